//! A real OpenLDAP `slapd` with the ppolicy overlay, started per test as a child process on a
//! free loopback port with its configuration and database in a temporary directory. Debian's
//! `slapd` and `ldap-utils` must be installed (`.ci/run` does it); without them the tests fail
//! with a message saying so, they never pass silently.
//!
//! The tests bind as the least-privilege service account `cn=sspr,dc=bedrijf,dc=nl`, never as
//! rootdn: rootdn bypasses the ppolicy quality checks (DESIGN §5).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, Scope, SearchEntry};
use sspr_bot::config::{DirectoryBackend, DirectoryConfig, LdapFlavour, Secret};

pub const BASE: &str = "dc=bedrijf,dc=nl";
pub const SERVICE_DN: &str = "cn=sspr,dc=bedrijf,dc=nl";
pub const SERVICE_PASSWORD: &str = "dienst-account-geheim-2026";
pub const ADMIN_GROUP: &str = "cn=beheerders,ou=groups,dc=bedrijf,dc=nl";
/// slapd's ppolicy minimum: longer than the bot's own, so a password can pass the bot and still
/// be refused by the directory.
pub const SLAPD_MIN_LENGTH: usize = 16;

/// A test user: `uid` is the login (the engine wants `name@domain`) and `mail` the work
/// mailbox (the same address). The private alternate address is in `email` (allowed by
/// `extensibleObject`; `directory_config` reads it).
pub struct User {
    pub login: &'static str,
    pub cn: &'static str,
    pub password: &'static str,
    pub mobile: &'static str,
    pub alternate_email: &'static str,
    /// An LDIF line for the department, if any (`departmentNumber: …`, `ou: …`).
    pub department: Option<&'static str>,
    /// Disabled: OpenLDAP's administrative lock (`pwdAccountLockedTime: 000001010000Z`).
    pub disabled: bool,
}

pub const EVA: User = User {
    login: "e.jansen@bedrijf.nl",
    cn: "Eva Jansen",
    password: "Oud-wachtwoord-2024!",
    mobile: "+31612345678",
    alternate_email: "eva.jansen@prive.example",
    department: Some("departmentNumber: Finance"),
    disabled: false,
};

/// An admin; no department attribute: the `ou=people` of the DN is the department.
pub const BERT: User = User {
    login: "b.beheer@bedrijf.nl",
    cn: "Bert Beheer",
    password: "Beheerder-wachtwoord-1!",
    mobile: "+31687654321",
    alternate_email: "bert@prive.example",
    department: None,
    disabled: false,
};

/// A former employee: disabled.
pub const OUD: User = User {
    login: "o.oud@bedrijf.nl",
    cn: "Oud Medewerker",
    password: "Vertrokken-wachtwoord-1!",
    mobile: "+31611111111",
    alternate_email: "oud@prive.example",
    department: Some("ou: Sales"),
    disabled: true,
};

pub const USERS: [&User; 3] = [&EVA, &BERT, &OUD];

pub fn user_dn(login: &str) -> String {
    format!("uid={login},ou=people,{BASE}")
}

pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
}

/// Debian's slapd and ldap-utils, installed once if missing (as `.ci/run` does), so that
/// `cargo test` alone works on a fresh machine of this project's kind (root, apt).
fn ensure_installed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if find_tool("slapd").is_some() && find_tool("slapadd").is_some() {
            return;
        }
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "slapd is missing and could not be installed: the LDAP tests need a real OpenLDAP \
             server (`apt-get install -y slapd ldap-utils` as root; .ci/run does this)"
        );
    });
}

fn tool(name: &str) -> PathBuf {
    ensure_installed();
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found: the LDAP tests need a real OpenLDAP server. Install it with \
             `apt-get install -y slapd ldap-utils` (.ci/run does this)"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {d}/slapd.pid
database mdb
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw root-is-not-used-by-the-tests
directory {d}/db
maxsize 10485760
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{BASE}"
ppolicy_use_lockout
ppolicy_hash_cleartext
# Like Active Directory's MaxPageSize (1000), only smaller: a search answers at most two entries,
# so listing the three users takes the paged search.
limits dn.exact="{SERVICE_DN}" size.soft=2 size.hard=2 size.prtotal=unlimited
access to attrs=userPassword
  by dn.exact="{SERVICE_DN}" write
  by self write
  by anonymous auth
  by * none
access to attrs=pwdAccountLockedTime,pwdFailureTime
  by dn.exact="{SERVICE_DN}" manage
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by self read
  by anonymous auth
  by * none
"#
    )
}

fn seed() -> String {
    let mut ldif = format!(
        r#"dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: bedrijf
o: Bedrijf

dn: {SERVICE_DN}
objectClass: person
cn: sspr
sn: service
userPassword: {SERVICE_PASSWORD}

dn: ou=policies,{BASE}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{BASE}
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdMinLength: {SLAPD_MIN_LENGTH}
pwdInHistory: 3
pwdLockout: TRUE
pwdMaxFailure: 3
pwdCheckQuality: 2
pwdMustChange: FALSE
pwdAllowUserChange: TRUE

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: {ADMIN_GROUP}
objectClass: groupOfNames
cn: beheerders
member: {bert}
"#,
        bert = user_dn(BERT.login)
    );
    for u in USERS {
        ldif.push_str(&format!(
            "\ndn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: extensibleObject\n\
             uid: {login}\ncn: {cn}\nsn: {sn}\nmail: {login}\nemail: {email}\n\
             mobile: {mobile}\nuserPassword: {pw}\n",
            dn = user_dn(u.login),
            login = u.login,
            cn = u.cn,
            sn = u.cn.split(' ').next_back().unwrap(),
            email = u.alternate_email,
            mobile = u.mobile,
            pw = u.password,
        ));
        if let Some(line) = u.department {
            ldif.push_str(&format!("{line}\n"));
        }
        if u.disabled {
            ldif.push_str("pwdAccountLockedTime: 000001010000Z\n");
        }
    }
    ldif
}

impl Slapd {
    /// Starts a fresh slapd with the test tree; panics (with slapd's output) if it cannot.
    pub fn start() -> Self {
        let slapd = tool("slapd");
        let slapadd = tool("slapadd");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path())).unwrap();
        let ldif = dir.path().join("seed.ldif");
        std::fs::write(&ldif, seed()).unwrap();
        let out = Command::new(slapadd)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = Self {
            child: None,
            dir,
            port: 0,
            url: String::new(),
        };
        s.spawn(&slapd);
        s
    }

    fn spawn(&mut self, slapd: &Path) {
        // A port picked free can be taken before slapd binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let url = format!("ldap://127.0.0.1:{port}");
            let log = std::fs::File::create(self.dir.path().join("slapd.log")).unwrap();
            let mut child = Command::new(slapd)
                .arg("-f")
                .arg(self.dir.path().join("slapd.conf"))
                .arg("-h")
                .arg(format!("{url}/"))
                .arg("-d")
                .arg("0")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("starting slapd");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("slapd exited ({status}): {}", self.log());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    self.child = Some(child);
                    self.port = port;
                    self.url = url;
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("slapd did not start: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Stops slapd (the directory goes down).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The bot's configuration for this directory: the service account, plain LDAP on loopback.
    pub fn directory_config(&self) -> DirectoryConfig {
        DirectoryConfig {
            backend: DirectoryBackend::Ldap,
            url: Some(self.url.clone()),
            bind_dn: Some(SERVICE_DN.into()),
            bind_password: Some(Secret::new(SERVICE_PASSWORD)),
            base_dn: Some(BASE.into()),
            allow_plaintext: true,
            flavour: LdapFlavour::Openldap,
            mobile_attribute: Some("mobile".into()),
            alternate_email_attribute: Some("email".into()),
            admin_groups: vec![ADMIN_GROUP.into()],
            timeout_secs: 3,
            ..Default::default()
        }
    }

    /// A sign-in as the user would do it: a simple bind on a connection of its own.
    pub async fn bind(&self, login: &str, password: &str) -> bool {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url).await.expect("connect");
        tokio::spawn(conn.drive());
        let ok = ldap
            .simple_bind(&user_dn(login), password)
            .await
            .expect("bind")
            .rc
            == 0;
        let _ = ldap.unbind().await;
        ok
    }

    /// `pwdAccountLockedTime` of a user, read as the service account.
    pub async fn locked_time(&self, login: &str) -> Option<String> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url).await.expect("connect");
        tokio::spawn(conn.drive());
        ldap.simple_bind(SERVICE_DN, SERVICE_PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        let (entries, _) = ldap
            .search(
                &user_dn(login),
                Scope::Base,
                "(objectClass=*)",
                vec!["pwdAccountLockedTime"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let _ = ldap.unbind().await;
        let entry = SearchEntry::construct(entries.into_iter().next().expect("user exists"));
        entry
            .attrs
            .get("pwdAccountLockedTime")
            .and_then(|v| v.first().cloned())
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
