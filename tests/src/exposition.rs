//! A strict reader of the text a `/metrics` endpoint serves (OpenMetrics text, which
//! Prometheus scrapes), and a scrape over plain HTTP. Strict means it refuses what a scraper
//! would: a sample before its family's `# TYPE`, a sample name its family's type does not
//! allow, a bad metric or label name, a malformed label set or value, a family declared twice,
//! histogram buckets that are not cumulative or disagree with `_count`, and a missing or
//! misplaced `# EOF`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};

use crate::web::{HttpAnswer, request};

/// One sample: a metric name, its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's name, e.g. `hotline_gateway_pushes_total`.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// Declared families and their types.
    pub types: BTreeMap<String, String>,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// The value of the unlabelled sample `name`, or an error naming it.
    pub fn get(&self, name: &str) -> anyhow::Result<f64> {
        self.value(name, &[])
            .with_context(|| format!("no sample {name} in the exposition"))
    }
}

/// `GET path` on `addr`: the answer, whole.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<HttpAnswer> {
    request(addr, "GET", path, &[], b"").await
}

/// Scrapes `/metrics` at `addr`, insists on 200 and the OpenMetrics content type, and parses.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<Exposition> {
    let answer = get(addr, "/metrics").await?;
    ensure!(answer.status == 200, "/metrics answered {}", answer.status);
    let kind = answer.header("content-type").unwrap_or_default();
    ensure!(
        kind.starts_with("application/openmetrics-text"),
        "/metrics content type {kind:?}"
    );
    parse(&answer.body)
}

/// Parses `text` strictly (see the module docs).
pub fn parse(text: &str) -> anyhow::Result<Exposition> {
    let mut exposition = Exposition::default();
    ensure!(
        text.ends_with("# EOF\n"),
        "the exposition does not end with # EOF"
    );
    let mut family: Option<(String, String)> = None;
    let mut helped = BTreeSet::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let at = || format!("line {}: {line:?}", index + 1);
        if line == "# EOF" {
            ensure!(lines.peek().is_none(), "{}: text after # EOF", at());
            break;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, tail) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next(),
            );
            ensure!(metric_name(name), "{}: bad metric name", at());
            match keyword {
                "TYPE" => {
                    let kind = tail.unwrap_or_default();
                    ensure!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "summary",
                            "gaugehistogram",
                            "unknown"
                        ]
                        .contains(&kind),
                        "{}: unknown type",
                        at()
                    );
                    ensure!(
                        exposition
                            .types
                            .insert(name.to_owned(), kind.to_owned())
                            .is_none(),
                        "{}: family declared twice",
                        at()
                    );
                    family = Some((name.to_owned(), kind.to_owned()));
                }
                "HELP" => {
                    ensure!(helped.insert(name.to_owned()), "{}: second HELP", at());
                }
                "UNIT" => {}
                _ => bail!("{}: unknown comment keyword", at()),
            }
            continue;
        }
        let sample = sample(line).with_context(at)?;
        let Some((name, kind)) = &family else {
            bail!("{}: a sample before any # TYPE", at());
        };
        let suffix = sample.name.strip_prefix(name.as_str()).unwrap_or("!");
        let allowed: &[&str] = match kind.as_str() {
            "counter" => &["_total", "_created"],
            "gauge" | "unknown" | "stateset" => &[""],
            "info" => &["_info"],
            "histogram" | "gaugehistogram" => &["_bucket", "_count", "_sum", "_created"],
            _ => &["", "_count", "_sum", "_created"],
        };
        ensure!(
            allowed.contains(&suffix),
            "{}: sample {} does not belong to the {kind} family {name}",
            at(),
            sample.name
        );
        if suffix == "_bucket" {
            ensure!(
                sample.labels.contains_key("le"),
                "{}: bucket without le",
                at()
            );
        }
        exposition.samples.push(sample);
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// Buckets are cumulative and the `+Inf` bucket equals `_count`, per label set.
fn check_histograms(exposition: &Exposition) -> anyhow::Result<()> {
    for (name, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{name}_bucket");
        let mut last: BTreeMap<BTreeMap<String, String>, f64> = BTreeMap::new();
        for sample in exposition.samples.iter().filter(|s| s.name == bucket) {
            let mut series = sample.labels.clone();
            let le = series.remove("le").unwrap_or_default();
            let previous = last.insert(series.clone(), sample.value).unwrap_or(0.0);
            ensure!(
                sample.value >= previous,
                "{name}: bucket le={le} holds {} after {previous}: not cumulative",
                sample.value
            );
            if le == "+Inf" {
                let count = exposition
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{name}_count") && s.labels == series)
                    .map(|s| s.value);
                ensure!(
                    count == Some(sample.value),
                    "{name}: +Inf bucket {} but _count {count:?}",
                    sample.value
                );
            }
        }
    }
    Ok(())
}

fn metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One sample line: `name[{labels}] value [timestamp]`.
fn sample(line: &str) -> anyhow::Result<Sample> {
    let name_end = line
        .find(['{', ' '])
        .context("a sample needs a value after its name")?;
    let name = &line[..name_end];
    ensure!(metric_name(name), "bad metric name {name:?}");
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = label_set(after)?;
        labels = parsed;
        rest = tail;
    }
    let rest = rest
        .strip_prefix(' ')
        .context("one space must separate the value")?;
    let mut fields = rest.split(' ');
    let value = number(fields.next().unwrap_or_default())?;
    if let Some(timestamp) = fields.next() {
        number(timestamp).context("bad timestamp")?;
    }
    ensure!(fields.next().is_none(), "text after the timestamp");
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels after `{` up to the closing `}`, and what follows it.
fn label_set(mut text: &str) -> anyhow::Result<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(tail) = text.strip_prefix('}') {
            return Ok((labels, tail));
        }
        let eq = text.find('=').context("a label needs =")?;
        let name = &text[..eq];
        ensure!(label_name(name), "bad label name {name:?}");
        text = text[eq + 1..]
            .strip_prefix('"')
            .context("a label value is quoted")?;
        let mut value = String::new();
        let mut chars = text.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => bail!("bad escape {other:?} in a label value"),
                },
                Some((_, '\n')) | None => bail!("unterminated label value"),
                Some((_, c)) => value.push(c),
            }
        };
        ensure!(
            labels.insert(name.to_owned(), value).is_none(),
            "label {name} given twice"
        );
        text = &text[end + 1..];
        if let Some(tail) = text.strip_prefix(',') {
            text = tail;
        } else {
            ensure!(text.starts_with('}'), "labels are separated by commas");
        }
    }
}

fn number(text: &str) -> anyhow::Result<f64> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => {
            ensure!(
                !text.is_empty() && !text.contains(['i', 'I', 'n', 'N']),
                "bad number {text:?}"
            );
            text.parse().with_context(|| format!("bad number {text:?}"))
        }
    }
}
