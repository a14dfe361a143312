//! PostgreSQL for the tests: the server at `DATABASE_URL` when it is set; otherwise a
//! throwaway cluster started from the machine's PostgreSQL server binaries
//! (`/usr/lib/postgresql/<version>/bin`, Debian's `postgresql` package, which
//! `tests/run.sh` installs), once per test process, on a free port of 127.0.0.1, in a
//! temporary folder owned by the `postgres` user when the tests run as root (`initdb`
//! refuses root). The cluster is stopped and its folder removed when the test process
//! exits (an `atexit` handler: libtest returns from `main` or calls `exit`, both run it);
//! a cluster left behind by a killed test process is stopped by the next one.
//!
//! Each test gets a database of its own ([`database`]).
//!
//! Include it with `#[path = "support/postgres.rs"] mod pg;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Connection as _;

/// Folders of throwaway clusters start with this, in the temporary folder.
const DIR_PREFIX: &str = "lexoffice-login-pg-";

/// The server the tests use.
pub struct Server {
    /// A URL with rights to create databases (its path names the `postgres` database).
    pub admin_url: String,
    /// Set when this process started the server.
    cluster: Option<Cluster>,
}

struct Cluster {
    root: PathBuf,
    pg_ctl: PathBuf,
    as_postgres: bool,
    /// The server's options, for a restart.
    options: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Server {
            admin_url: url,
            cluster: None,
        },
        _ => start_cluster().unwrap_or_else(|e| panic!("could not start PostgreSQL: {e}")),
    })
}

/// A new, empty database on the server, as a URL.
pub async fn database() -> String {
    let server = server();
    let name = format!("test_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(&server.admin_url)
        .await
        .expect("the test server takes connections");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    let mut url = url::Url::parse(&server.admin_url).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The folder with `initdb`, `pg_ctl` and `postgres`: `PG_BIN` when set, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!("no /usr/lib/postgresql ({e}): install Debian's postgresql package (tests/run.sh does), or set DATABASE_URL")
        })?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package (tests/run.sh does), or set DATABASE_URL".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args` as the `postgres` user when `as_postgres`.
fn command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("could not run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start_cluster() -> Result<Server, String> {
    let bin = bin_dir()?;
    let as_postgres = is_root();
    stop_abandoned_clusters(&bin, as_postgres);

    let root = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    std::fs::write(root.join("owner.pid"), std::process::id().to_string())
        .map_err(|e| format!("write owner.pid: {e}"))?;
    if as_postgres {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:postgres").arg(&root);
        run(chown, "chown postgres")?;
    }
    let data = root.join("data");

    let mut initdb = command(&bin.join("initdb"), as_postgres);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb")?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("find a free port: {e}"))?
        .port();
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
         -c fsync=off -c full_page_writes=off -c max_connections=300",
        root.display()
    );
    let mut start = command(&bin.join("pg_ctl"), as_postgres);
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(root.join("server.log"))
        .args(["-w", "-t", "60", "-o", &options, "start"]);
    if let Err(e) = run(start, "pg_ctl start") {
        let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&root);
        return Err(format!("{e}\nserver log:\n{log}"));
    }
    register_atexit();
    Ok(Server {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        cluster: Some(Cluster {
            root,
            pg_ctl: bin.join("pg_ctl"),
            as_postgres,
            options,
        }),
    })
}

/// A cluster of its own (whatever `DATABASE_URL` says), for a test that stops and starts
/// its server; stopped when the returned server is dropped.
pub fn throwaway() -> Server {
    start_cluster().unwrap_or_else(|e| panic!("could not start PostgreSQL: {e}"))
}

impl Server {
    /// Stops the server (fast shutdown: connections are cut) and starts it again on the
    /// same port, as an operator's restart would.
    pub fn restart(&self) -> Result<(), String> {
        let c = self
            .cluster
            .as_ref()
            .ok_or("only a cluster the tests started can be restarted")?;
        let mut cmd = command(&c.pg_ctl, c.as_postgres);
        cmd.arg("-D")
            .arg(c.root.join("data"))
            .arg("-l")
            .arg(c.root.join("server.log"))
            .args(["-m", "fast", "-w", "-t", "60", "-o", &c.options, "restart"]);
        run(cmd, "pg_ctl restart")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &self.cluster {
            stop(&c.pg_ctl, &c.root, c.as_postgres, "fast");
        }
    }
}

/// Stops the clusters whose test process is gone (killed before its `atexit` ran).
fn stop_abandoned_clusters(bin: &Path, as_postgres: bool) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        if !is_ours {
            continue;
        }
        let root = entry.path();
        let owner = std::fs::read_to_string(root.join("owner.pid")).unwrap_or_default();
        let alive = !owner.trim().is_empty() && Path::new("/proc").join(owner.trim()).exists();
        if alive {
            continue;
        }
        stop(&bin.join("pg_ctl"), &root, as_postgres, "immediate");
    }
}

fn stop(pg_ctl: &Path, root: &Path, as_postgres: bool, mode: &str) {
    let data = root.join("data");
    if data.join("postmaster.pid").exists() {
        let mut cmd = command(pg_ctl, as_postgres);
        cmd.arg("-D")
            .arg(&data)
            .args(["-m", mode, "-w", "-t", "30", "stop"]);
        if let Err(e) = run(cmd, "pg_ctl stop") {
            eprintln!("{e}");
        }
    }
    let _ = std::fs::remove_dir_all(root);
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn stop_at_exit() {
    if let Some(Server {
        cluster: Some(c), ..
    }) = SERVER.get()
    {
        stop(&c.pg_ctl, &c.root, c.as_postgres, "fast");
    }
}

fn register_atexit() {
    // SAFETY: registers a plain function; it runs once, at process exit.
    let rc = unsafe { atexit(stop_at_exit) };
    assert_eq!(rc, 0, "atexit");
}

/// Waits until `f` holds, up to `timeout`.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
