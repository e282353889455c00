//! A throwaway PostgreSQL server on loopback, for the demo, the tests and the bench: a new
//! cluster in a temporary directory (`initdb`), started with `pg_ctl` on a free port of
//! 127.0.0.1 and no Unix socket outside that directory, one user with a random password
//! (SCRAM; it is in [`LocalPostgres::url`] and nowhere else), and stopped and removed when
//! dropped. Its WAL writer waits 10 s between rounds, so what is durable is what a synchronous
//! commit made durable: the store's tests can tell a flushed batch from one that is not. Not
//! for production.
//!
//! PostgreSQL refuses to run as root, so a root process runs the server's commands as the
//! system user `postgres` (which Debian's packages create) through `runuser`, and gives that
//! user the cluster's directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user the cluster trusts.
pub const USER: &str = "hotline";

/// Where Debian's packages put a server's programs: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Why a local server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    /// No `initdb` and `pg_ctl` were found.
    #[error(
        "no PostgreSQL server programs found (looked for initdb and pg_ctl in $HOTLINE_POSTGRES_BIN, \
         {DEBIAN_ROOT}/<version>/bin and on PATH); install them, e.g. `apt-get install postgresql`"
    )]
    NotInstalled,
    /// A command failed; what it printed is kept.
    #[error("{command} failed: {output}")]
    Command {
        /// The command line, shortened to its program and first argument.
        command: String,
        /// Its stderr and stdout, or why it could not run.
        output: String,
    },
}

/// A running throwaway server; stopped (immediately) and deleted when dropped.
pub struct LocalPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
    as_postgres: bool,
}

impl LocalPostgres {
    /// The directory holding `initdb` and `pg_ctl`: `$HOTLINE_POSTGRES_BIN`, the newest of
    /// Debian's versions, or the directory of `initdb` on `PATH`.
    pub fn binaries() -> Option<PathBuf> {
        let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
        if let Some(dir) = std::env::var_os("HOTLINE_POSTGRES_BIN").map(PathBuf::from) {
            return has_both(&dir).then_some(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_ROOT)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                has_both(&bin).then_some((major, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Some(bin);
        }
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .find(|dir| has_both(dir))
    }

    /// A new cluster, started and accepting connections.
    pub fn start() -> Result<LocalPostgres, LocalPostgresError> {
        let bin = Self::binaries().ok_or(LocalPostgresError::NotInstalled)?;
        let dir = tempfile::Builder::new()
            .prefix("hotline-postgres-")
            .tempdir()
            .map_err(|e| failed("mkdir", e.to_string()))?;
        let as_postgres = is_root();
        if as_postgres {
            give_to_postgres(dir.path())?;
        }
        let password = random_password()?;
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{password}\n"))
            .map_err(|e| failed("write the password file", e.to_string()))?;
        let server = LocalPostgres {
            bin,
            dir,
            port: 0,
            password,
            as_postgres,
        };
        let data = server.data_dir();
        let pwfile = format!("--pwfile={}", password_file.display());
        let initdb = server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                &pwfile,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let _ = std::fs::remove_file(&password_file);
        initdb?;
        let mut server = server;
        // A port taken between the probe and the start makes pg_ctl fail: try a few.
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(LocalPostgresError::NotInstalled))
    }

    /// For tests: a new server, or `None` with a notice naming `what` was skipped where
    /// PostgreSQL is not installed. With `HOTLINE_REQUIRE_POSTGRES` set (as `.ci/run` does)
    /// a missing installation or a failed start fails the test instead.
    pub fn start_for_test(what: &str) -> Option<LocalPostgres> {
        if Self::binaries().is_none() {
            assert!(
                std::env::var_os("HOTLINE_REQUIRE_POSTGRES").is_none(),
                "HOTLINE_REQUIRE_POSTGRES is set but PostgreSQL is not installed"
            );
            eprintln!("NOTICE: PostgreSQL not installed; {what} skipped");
            return None;
        }
        match Self::start() {
            Ok(server) => Some(server),
            Err(e) => panic!("a local PostgreSQL server for {what}: {e}"),
        }
    }

    /// The URL of `database` on this server, as user [`USER`] with its password.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server the way a crash would (`pg_ctl stop -m immediate`: no checkpoint, the
    /// next start replays the WAL).
    pub fn kill(&self) -> Result<(), LocalPostgresError> {
        let data = self.data_dir();
        self.run("pg_ctl", &["stop", "-D", &data, "-m", "immediate", "-w"])
    }

    /// Starts the server again on the same port after [`LocalPostgres::kill`].
    pub fn restart(&self) -> Result<(), LocalPostgresError> {
        self.pg_ctl_start()
    }

    fn pg_ctl_start(&self) -> Result<(), LocalPostgresError> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='{}' \
             -c max_connections=200 -c wal_writer_delay=10000",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options,
            ],
        )
        .map_err(|e| match e {
            LocalPostgresError::Command { command, output } => {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                LocalPostgresError::Command {
                    command,
                    output: format!("{output}\nserver log:\n{log}"),
                }
            }
            other => other,
        })
    }

    /// Makes the server take TCP connections over TLS only, presenting `cert_pem` with the key
    /// `key_pem` (PEM): writes them into the data directory, turns `ssl` on, turns every
    /// `host` line of `pg_hba.conf` into `hostssl` (a plain connection is refused) and asks
    /// the server to reload (applied shortly after the call returns).
    pub fn require_tls(&self, cert_pem: &str, key_pem: &str) -> Result<(), LocalPostgresError> {
        let data = self.dir.path().join("data");
        let write = |name: &str, text: &str| {
            let path = data.join(name);
            std::fs::write(&path, text)
                .and_then(|()| {
                    std::fs::set_permissions(
                        &path,
                        std::os::unix::fs::PermissionsExt::from_mode(0o600),
                    )
                })
                .map_err(|e| failed("write the TLS files", e.to_string()))?;
            if self.as_postgres {
                give_to_postgres(&path)?;
            }
            Ok::<(), LocalPostgresError>(())
        };
        write("server.crt", cert_pem)?;
        write("server.key", key_pem)?;
        let hba_path = data.join("pg_hba.conf");
        let hba = std::fs::read_to_string(&hba_path)
            .map_err(|e| failed("read pg_hba.conf", e.to_string()))?;
        let hba: String = hba
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        write("pg_hba.conf", &hba)?;
        let conf_path = data.join("postgresql.conf");
        let mut conf = std::fs::read_to_string(&conf_path)
            .map_err(|e| failed("read postgresql.conf", e.to_string()))?;
        conf.push_str("\nssl = on\n");
        write("postgresql.conf", &conf)?;
        let data = self.data_dir();
        // A signal: the server applies it shortly after (callers wait until it shows).
        self.run("pg_ctl", &["reload", "-D", &data])
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), LocalPostgresError> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        // pg_ctl's server inherits the working directory; root's may be closed to `postgres`.
        command.args(args).current_dir(self.dir.path());
        let output = command
            .output()
            .map_err(|e| failed(program, format!("cannot run {}: {e}", path.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(failed(
                program,
                format!(
                    "{}: {}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr),
                    String::from_utf8_lossy(&output.stdout)
                ),
            ))
        }
    }
}

/// Leaves the password out.
impl std::fmt::Debug for LocalPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPostgres")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish()
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        // Best effort: a server already stopped answers with an error that changes nothing.
        let _ = self.kill();
    }
}

fn failed(command: &str, output: String) -> LocalPostgresError {
    LocalPostgresError::Command {
        command: command.to_string(),
        output,
    }
}

/// 32 hex digits from the system's random source.
fn random_password() -> Result<String, LocalPostgresError> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| failed("read /dev/urandom", e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn free_port() -> Result<u16, LocalPostgresError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| failed("bind 127.0.0.1:0", e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| failed("bind 127.0.0.1:0", e.to_string()))?
        .port();
    Ok(port)
}

/// True when this process runs as root (`id -u` says 0).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Hands `dir` to the system user `postgres` (root only).
fn give_to_postgres(dir: &Path) -> Result<(), LocalPostgresError> {
    let status = Command::new("chown")
        .arg("postgres:")
        .arg(dir)
        .output()
        .map_err(|e| failed("chown", e.to_string()))?;
    if status.status.success() {
        Ok(())
    } else {
        Err(failed(
            "chown postgres",
            format!(
                "{}; PostgreSQL does not run as root and needs the system user `postgres` \
                 (Debian's postgresql package creates it)",
                String::from_utf8_lossy(&status.stderr).trim()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server starts, takes TCP connections on its port, survives a kill and restart, and
    /// leaves nothing behind when dropped. Skipped with a notice where PostgreSQL is not
    /// installed, unless `HOTLINE_REQUIRE_POSTGRES` is set (as `.ci/run` does).
    #[test]
    fn a_server_starts_restarts_and_goes() {
        let Some(server) = LocalPostgres::start_for_test("the local server test") else {
            return;
        };
        let port = server.port();
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening");
        assert!(server.url("x").ends_with(&format!("127.0.0.1:{port}/x")));
        assert!(
            server.url("x").contains(&format!(":{}@", server.password))
                && server.password.len() == 32,
            "the URL carries the random password"
        );
        server.kill().expect("kill");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        server.restart().expect("restart");
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening again");
        let dir = server.dir.path().to_path_buf();
        drop(server);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
