//! `hotline.v1.Admin`: tenants, sites, focus team policies and refused changes, for in-house
//! staff. Changes need the `admin` role; reading works with `admin` or `auditor`.

use std::sync::Arc;

use hotline_federation::ids::check_slug;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, ReviewCadence};
use hotline_federation::{Change, EntityState, FieldOp};
use hotline_proto::v1 as pb;
use pb::admin_server::Admin;
use tonic::{Request, Response, Status};

use crate::api::quoted;
use crate::error::Error;
use crate::identity::{Identity, StaffRole, identity_of};
use crate::log::decode;
use crate::state::GatewayState;
use crate::store::{entities, keys};
use crate::writer::{GATEWAY_SITE, Outcome, Registration};
use hotline_federation::authority::Caller;

/// The Admin service.
#[derive(Debug, Clone)]
pub struct AdminApi {
    state: Arc<GatewayState>,
}

impl AdminApi {
    /// A service over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        AdminApi { state }
    }

    /// Records a staff action that writes nothing else (a read) in the audit trail.
    async fn record(&self, staff: String, action: &str, subject: &str) -> Result<(), Status> {
        crate::audit::record(&self.state, staff, action, subject, serde_json::json!({})).await?;
        Ok(())
    }

    /// The staff member calling, as the audit trail names them (`staff:<role>:<name>`);
    /// `change` asks for the admin role, otherwise auditors pass too.
    fn staff<T>(&self, request: &Request<T>, change: bool) -> Result<String, Error> {
        match identity_of(request, &self.state.config.federation)? {
            Identity::Staff {
                role: StaffRole::Admin,
                name,
            } => Ok(format!("staff:admin:{name}")),
            Identity::Staff {
                role: StaffRole::Auditor,
                name,
            } if !change => Ok(format!("staff:auditor:{name}")),
            Identity::Staff {
                role: StaffRole::Auditor,
                name,
            } => Err(Error::PermissionDenied(format!(
                "{name} holds the auditor role, which reads only; this call needs an admin certificate"
            ))),
            Identity::Site { site, .. } => Err(Error::PermissionDenied(format!(
                "site {site} presented a site certificate; the Admin service needs a staff certificate (admin or auditor)"
            ))),
        }
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> Status {
    Error::InvalidArgument(format!("{field}: {}", problem.into())).into()
}

fn slug(field: &str, value: &str) -> Result<(), Status> {
    check_slug(field, value).map_err(|e| Error::InvalidArgument(e.to_string()).into())
}

fn text(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() || value.len() > 256 {
        return Err(invalid(field, "must be 1 to 256 bytes of text"));
    }
    Ok(())
}

/// A policy entity as the wire's `Policy` view.
pub fn policy_view(state: &EntityState) -> pb::Policy {
    let mut view = pb::Policy {
        focus_team: state.key.id.clone(),
        ..pb::Policy::default()
    };
    for register in state.registers.values() {
        let FieldValue::Policy(field) = &register.winner.value else {
            continue;
        };
        match field {
            PolicyField::DisplayName(v) => view.display_name = v.clone(),
            PolicyField::Handlers(v) => view.handlers = v.clone(),
            PolicyField::SlaAnswerSeconds(v) => view.sla_answer_seconds = *v,
            PolicyField::SlaTargetPercent(v) => view.sla_target_percent = *v,
            PolicyField::FcrTargetPercent(v) => view.fcr_target_percent = *v,
            PolicyField::ReviewCadence(v) => {
                view.review_cadence = hotline_federation::wire::WireEnum::to_wire(*v);
            }
            PolicyField::PiiGrants(v) => view.pii_grants = v.clone(),
            PolicyField::PartnerRetentionDays(v) => view.partner_retention_days = Some(*v),
        }
    }
    view
}

#[tonic::async_trait]
impl Admin for AdminApi {
    async fn upsert_tenant(
        &self,
        request: Request<pb::UpsertTenantRequest>,
    ) -> Result<Response<pb::UpsertTenantResponse>, Status> {
        let staff = self.staff(&request, true)?;
        let pb::UpsertTenantRequest { tenant } = request.into_inner();
        let tenant = tenant.ok_or_else(|| invalid("tenant", "is required"))?;
        slug("tenant.id", &tenant.id)?;
        text("tenant.display_name", &tenant.display_name)?;
        self.state
            .writer
            .register_as(staff.clone(), Registration::Tenant(tenant.clone()))
            .await?;
        tracing::info!(%staff, tenant = %tenant.id, "tenant stored");
        Ok(Response::new(pb::UpsertTenantResponse {
            tenant: Some(tenant),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let staff = self.staff(&request, false)?;
        self.record(staff, "admin.list_tenants", "tenants").await?;
        let tenants = self
            .state
            .shared
            .registry()
            .tenants
            .values()
            .cloned()
            .collect();
        Ok(Response::new(pb::ListTenantsResponse { tenants }))
    }

    async fn upsert_site(
        &self,
        request: Request<pb::UpsertSiteRequest>,
    ) -> Result<Response<pb::UpsertSiteResponse>, Status> {
        let staff = self.staff(&request, true)?;
        let pb::UpsertSiteRequest { site } = request.into_inner();
        let mut site = site.ok_or_else(|| invalid("site", "is required"))?;
        slug("site.id", &site.id)?;
        if site.id == GATEWAY_SITE {
            return Err(invalid(
                "site.id",
                "\"gateway\" is reserved for the gateway itself",
            ));
        }
        let registry = self.state.shared.registry();
        if !registry.tenants.contains_key(&site.tenant) {
            let known: Vec<String> = registry.tenant_ids();
            return Err(invalid(
                "site.tenant",
                format!(
                    "tenant {} does not exist; known: {}",
                    quoted(&site.tenant),
                    known.join(", ")
                ),
            ));
        }
        // Refused here for a clear early answer; the writer refuses it too, against the
        // registry as its group stands.
        if let Some(refusal) =
            crate::writer::moves_a_site(&registry, &Registration::Site(site.clone()))
        {
            return Err(invalid("site.tenant", refusal));
        }
        if site.display_name.is_empty() {
            site.display_name = site.id.clone();
        }
        text("site.display_name", &site.display_name)?;
        self.state
            .writer
            .register_as(staff.clone(), Registration::Site(site.clone()))
            .await?;
        tracing::info!(%staff, site = %site.id, tenant = %site.tenant, "site stored");
        Ok(Response::new(pb::UpsertSiteResponse { site: Some(site) }))
    }

    async fn list_sites(
        &self,
        request: Request<pb::ListSitesRequest>,
    ) -> Result<Response<pb::ListSitesResponse>, Status> {
        let staff = self.staff(&request, false)?;
        self.record(staff, "admin.list_sites", "sites").await?;
        let sites = self
            .state
            .shared
            .registry()
            .sites
            .values()
            .cloned()
            .collect();
        Ok(Response::new(pb::ListSitesResponse { sites }))
    }

    async fn put_policy(
        &self,
        request: Request<pb::PutPolicyRequest>,
    ) -> Result<Response<pb::PutPolicyResponse>, Status> {
        let staff = self.staff(&request, true)?;
        let pb::PutPolicyRequest { policy } = request.into_inner();
        let pb::Policy {
            focus_team,
            display_name,
            handlers,
            sla_answer_seconds,
            sla_target_percent,
            fcr_target_percent,
            review_cadence,
            pii_grants,
            partner_retention_days,
        } = policy.ok_or_else(|| invalid("policy", "is required"))?;
        slug("policy.focus_team", &focus_team)?;
        let registry = self.state.shared.registry();
        let tenants = |field: &str, list: &[String]| -> Result<Vec<String>, Status> {
            let mut list = list.to_vec();
            list.sort();
            list.dedup();
            for tenant in &list {
                if !registry.tenants.contains_key(tenant) {
                    return Err(invalid(
                        field,
                        format!(
                            "tenant {} does not exist; known: {}",
                            quoted(tenant),
                            registry.tenant_ids().join(", ")
                        ),
                    ));
                }
            }
            Ok(list)
        };
        let cadence = <ReviewCadence as hotline_federation::wire::WireEnum>::from_wire(
            "policy.review_cadence",
            review_cadence,
        )
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let ops: Vec<FieldOp> = [
            PolicyField::DisplayName(display_name),
            PolicyField::Handlers(tenants("policy.handlers", &handlers)?),
            PolicyField::SlaAnswerSeconds(sla_answer_seconds),
            PolicyField::SlaTargetPercent(sla_target_percent),
            PolicyField::FcrTargetPercent(fcr_target_percent),
            PolicyField::ReviewCadence(cadence),
            PolicyField::PiiGrants(tenants("policy.pii_grants", &pii_grants)?),
        ]
        .into_iter()
        // Unset keeps the stored value: a client that does not know the field never shortens
        // (or lengthens) the partners' retention by accident.
        .chain(partner_retention_days.map(PolicyField::PartnerRetentionDays))
        .map(|f| FieldOp::Set(FieldValue::Policy(f)))
        .collect();
        let key = EntityKey::new(EntityKind::Policy, focus_team.clone());
        // The rules a change must meet (ranges, sizes) are the federation's; check before writing.
        let probe = Change {
            key: key.clone(),
            ops: ops.clone(),
            origin_site: GATEWAY_SITE.into(),
            origin_seq: 1,
            hlc: hotline_federation::Hlc::new(1, 0),
        };
        probe.validate().map_err(|e| {
            Error::InvalidArgument(e.to_string().replace("change.ops[", "policy field ["))
        })?;
        match self
            .state
            .writer
            .seed_as(staff.clone(), key.clone(), ops)
            .await?
            .pop()
        {
            Some(Outcome::Rejected(refusal)) => return Err(invalid("policy", refusal.message)),
            Some(Outcome::Accepted { .. }) | None => {}
        }
        let stored = entities::read_or_new(self.state.store.as_ref(), &key)?;
        tracing::info!(%staff, team = %focus_team, "policy stored");
        Ok(Response::new(pb::PutPolicyResponse {
            policy: Some(policy_view(&stored)),
        }))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let staff = self.staff(&request, false)?;
        self.record(staff, "admin.list_policies", "policies")
            .await?;
        let mut policies = Vec::new();
        for state in entities::scan(self.state.store.as_ref(), EntityKind::Policy)? {
            if state.deleted.is_none() {
                policies.push(policy_view(&state));
            }
        }
        Ok(Response::new(pb::ListPoliciesResponse { policies }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let staff = self.staff(&request, false)?;
        self.record(staff, "admin.list_dead_letters", "dead_letters")
            .await?;
        let pb::ListDeadLettersRequest { site } = request.into_inner();
        let (start, end) = if site.is_empty() {
            keys::prefix_range(keys::DEAD_LETTER)
        } else {
            let prefix = keys::dead_letter_prefix(&site);
            let end = keys::prefix_end(&prefix);
            (prefix, end)
        };
        let mut dead_letters = Vec::new();
        for (_, raw) in self
            .state
            .store
            .range(&start, &end, usize::MAX)
            .map_err(Status::from)?
        {
            dead_letters.push(decode::<pb::DeadLetter>("dead letter", &raw)?);
        }
        Ok(Response::new(pb::ListDeadLettersResponse { dead_letters }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let staff = self.staff(&request, true)?;
        let pb::ReplayDeadLetterRequest { site, origin_seq } = request.into_inner();
        let raw = self
            .state
            .store
            .get(&keys::dead_letter(&site, origin_seq))
            .map_err(Status::from)?
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no refused change {origin_seq} of site {}; list them with ListDeadLetters",
                    quoted(&site)
                ))
            })?;
        let letter: pb::DeadLetter = decode("dead letter", &raw)?;
        if letter.rejection.as_ref().map(|r| r.reason) == Some(pb::RejectReason::ClockSkew as i32) {
            // Its clock reading is what was wrong; pushed as it is, once time catches up it
            // would win over every write the site made since.
            return Err(Error::FailedPrecondition(format!(
                "change {origin_seq} of site {site:?} was refused for its clock, so it cannot be \
                 replayed here with that reading; replay it at the site (POST \
                 /v1/dead-letters/{origin_seq}/replay on its adapter) once the site's clock is \
                 right, which gives it a new reading"
            ))
            .into());
        }
        let change = letter
            .change
            .ok_or_else(|| Error::Corrupt("dead letter without change".into()))?;
        let change = Change::try_from(change).map_err(|e| Error::Corrupt(e.to_string()))?;
        let tenant = self
            .state
            .shared
            .registry()
            .site_tenant(&site)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("site {} is no longer registered", quoted(&site)))
            })?;
        let outcome = self
            .state
            .writer
            .push(
                Caller::Site {
                    tenant,
                    site: site.clone(),
                },
                vec![change],
            )
            .await?;
        let result = outcome
            .into_iter()
            .next()
            .map(|o| crate::api::federation::result_to_wire(origin_seq, o));
        let detail = serde_json::json!({ "site": site, "origin_seq": origin_seq });
        crate::audit::record(
            &self.state,
            staff.clone(),
            "admin.replay_dead_letter",
            &format!("site/{site}"),
            detail,
        )
        .await?;
        tracing::info!(%staff, %site, origin_seq, "dead letter replayed");
        Ok(Response::new(pb::ReplayDeadLetterResponse { result }))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::EraseCustomerResponse>, Status> {
        let staff = self.staff(&request, true)?;
        let pb::EraseCustomerRequest {
            customer_ref,
            reason,
        } = request.into_inner();
        let erasure =
            crate::erasure::erase_customer(&self.state, staff, customer_ref, reason).await?;
        Ok(Response::new(pb::EraseCustomerResponse {
            erasure: Some(erasure),
        }))
    }

    async fn list_erasures(
        &self,
        request: Request<pb::ListErasuresRequest>,
    ) -> Result<Response<pb::ListErasuresResponse>, Status> {
        let staff = self.staff(&request, false)?;
        self.record(staff, "admin.list_erasures", "erasures")
            .await?;
        let erasures = crate::erasure::list(&self.state)?;
        Ok(Response::new(pb::ListErasuresResponse { erasures }))
    }

    async fn mint_dashboard_link(
        &self,
        request: Request<pb::MintDashboardLinkRequest>,
    ) -> Result<Response<pb::MintDashboardLinkResponse>, Status> {
        let minter = self.staff(&request, true)?;
        let pb::MintDashboardLinkRequest { staff, role } = request.into_inner();
        slug("staff", &staff)?;
        let role = match pb::DashboardRole::try_from(role) {
            Ok(pb::DashboardRole::Admin) => StaffRole::Admin,
            Ok(pb::DashboardRole::Auditor) => StaffRole::Auditor,
            Ok(pb::DashboardRole::Unspecified) | Err(_) => {
                return Err(invalid(
                    "role",
                    format!("{role} is not a dashboard role; allowed: admin (1), auditor (2)"),
                ));
            }
        };
        let web = &self.state.config.web;
        let base = if web.public_url.trim().is_empty() {
            match web.listen_addr().map_err(Status::from)? {
                Some(addr) => {
                    let scheme = if web.tls_cert.is_some() {
                        "https"
                    } else {
                        "http"
                    };
                    format!("{scheme}://{addr}")
                }
                None => {
                    return Err(Error::FailedPrecondition(
                        "the web listener is off (web.listen is empty), so there is no dashboard \
                         to sign in to; set web.listen and web.public_url"
                            .into(),
                    )
                    .into());
                }
            }
        } else {
            web.public_url.trim().trim_end_matches('/').to_owned()
        };
        let link = self
            .state
            .staff_sessions
            .mint(&staff, role, self.state.now_ms())?;
        // The trail names who minted a link for whom; never the token.
        let detail = serde_json::json!({
            "role": role.as_str(),
            "expires_at_ms": link.expires_at_ms,
        });
        crate::audit::record(
            &self.state,
            minter.clone(),
            "dashboard.link_minted",
            &format!("staff/{staff}"),
            detail,
        )
        .await?;
        tracing::info!(%minter, %staff, %role, "dashboard link minted");
        Ok(Response::new(pb::MintDashboardLinkResponse {
            url: format!("{base}/staff/signin?token={}", link.token),
            expires_at_ms: link.expires_at_ms,
        }))
    }
}
