//! The Microsoft Graph directory (Entra ID) against a wiremock fake of the token endpoint and of
//! Graph that checks what the real ones check: the client-credentials form, the bearer token on
//! every call (401 `InvalidAuthenticationToken` otherwise), `$select`, and the shape of the
//! `passwordProfile` PATCH. Then Graph's failures (password policy, throttling, a revoked token,
//! a 500) and one "forgot password" conversation through the core ending in the PATCH.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reqwest::Url;
use serde_json::{json, Value};
use sspr_bot::config::{DirectoryConfig, Secret};
use sspr_bot::dialogue::{DirectoryRule, Input, Lang};
use sspr_bot::directory::{Directory, DirectoryError, GraphDirectory};
use sspr_bot::domain::{LoginName, NewPassword};
use sspr_bot::i18n::Localizer;
use sspr_bot::providers::{Outbox, Providers};
use sspr_bot::recovery::{ChatRef, Core, Keys, ManualClock, Rules, TurnOutput};
use sspr_bot::store::{Registration, Store};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TENANT: &str = "0b7c4f3e-1d2a-4b5c-8d9e-112233445566";
const CLIENT_ID: &str = "6f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9";
const CLIENT_SECRET: &str = "Xq8~gr4ph-cl13nt-s3cr3t.Zz";
const ADMIN_GROUP: &str = "aaaaaaaa-0000-0000-0000-00000000ad01";
const OTHER_GROUP: &str = "bbbbbbbb-0000-0000-0000-000000000002";
const PASSWORD: &str = "Paars konijn eet 7 wortels";
const JAN_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

struct FakeUser {
    id: &'static str,
    upn: &'static str,
    display: &'static str,
    enabled: bool,
    phones: Vec<(&'static str, &'static str)>,
    emails: Vec<&'static str>,
    groups: Vec<&'static str>,
    /// The user's own properties (not authentication methods).
    mail: Option<&'static str>,
    department: Option<&'static str>,
    mobile_phone: Option<&'static str>,
}

impl FakeUser {
    /// As Graph shows a user: only the `$select`ed properties (and always `id`) when there is a
    /// `$select`; `accountEnabled` only when asked for.
    fn json(&self, select: Option<&str>) -> Value {
        let mut user = json!({
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.display,
            "mobilePhone": self.mobile_phone,
            "otherMails": [],
            "mail": self.mail,
            "department": self.department,
            "accountEnabled": self.enabled,
        });
        let fields: Vec<&str> = select.unwrap_or("").split(',').collect();
        if let Some(o) = user.as_object_mut() {
            o.retain(|k, _| {
                k == "id"
                    || (select.is_none() && k != "accountEnabled")
                    || fields.contains(&k.as_str())
            });
        }
        user
    }
}

/// What the fake does with the next PATCH.
enum Scripted {
    /// This status, a Graph error body, and maybe a `Retry-After`.
    Error(u16, &'static str, &'static str, Option<u64>),
    /// A 500 whose message echoes the bearer token and the request body, to check scrubbing.
    Echo500,
}

#[derive(Default)]
struct State {
    issued: usize,
    token_requests: usize,
    bad_token_requests: usize,
    valid: HashSet<String>,
    /// Tokens Graph has seen on each call, in order.
    seen: Vec<(String, String, Option<String>)>,
    unauthorized: usize,
    /// Graph rejects the next call's token once (as if it had expired or been revoked).
    revoke_next: bool,
    /// Every Graph call answers 500.
    down: bool,
    /// Graph refuses every token.
    refuse_all: bool,
    users: Vec<FakeUser>,
    patches: Vec<Value>,
    patch_times: Vec<Instant>,
    script: VecDeque<Scripted>,
    expires_in: u64,
    /// Users per page of `GET /users` (whatever `$top` asks).
    page_size: usize,
    /// The fake's own address (wiremock's request URLs say `localhost`).
    origin: String,
    /// Next-page links point at this origin instead of the fake's own.
    next_link_origin: Option<String>,
}

#[derive(Clone)]
struct Fake {
    server: Arc<MockServer>,
    state: Arc<Mutex<State>>,
}

fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2026-11-30T06:55:00", "request-id": "5f0c-req"}
        }
    }))
}

struct TokenEndpoint(Arc<Mutex<State>>);

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.token_requests += 1;
        let body = String::from_utf8_lossy(&request.body).to_string();
        let form: Vec<(String, String)> = Url::parse(&format!("http://x/?{body}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let content_type = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded")
            || get("grant_type") != Some("client_credentials")
            || get("scope") != Some("https://graph.microsoft.com/.default")
            || get("client_id") != Some(CLIENT_ID)
        {
            s.bad_token_requests += 1;
            return ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_request",
                "error_description": "AADSTS900144: The request body must contain the following parameter.\r\nTrace ID: 1"
            }));
        }
        if get("client_secret") != Some(CLIENT_SECRET) {
            s.bad_token_requests += 1;
            // Echoes the secret it got, so a test sees it scrubbed.
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": format!(
                    "AADSTS7000215: Invalid client secret provided ({}).\r\nTrace ID: 2",
                    get("client_secret").unwrap_or("")
                )
            }));
        }
        s.issued += 1;
        let token = format!("eyJ0eXAi.graph-token-{}.sig", s.issued);
        s.valid.insert(token.clone());
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "expires_in": s.expires_in,
            "ext_expires_in": s.expires_in,
            "access_token": token,
        }))
    }
}

struct GraphEndpoint(Arc<Mutex<State>>);

impl Respond for GraphEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let token = auth.strip_prefix("Bearer ").unwrap_or("").to_string();
        let method = request.method.to_string();
        let path = request.url.path().to_string();
        s.seen
            .push((method.clone(), path.clone(), Some(token.clone())));
        if s.revoke_next && !token.is_empty() {
            s.revoke_next = false;
            s.valid.remove(&token);
        }
        if s.refuse_all || !s.valid.contains(&token) {
            s.unauthorized += 1;
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            );
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if s.down {
            return graph_error(500, "InternalServerError", "Something went wrong.");
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let find = |s: &State, key: &str| {
            s.users
                .iter()
                .position(|u| u.id == key || u.upn.eq_ignore_ascii_case(key))
        };
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["v1.0", "users"]) => {
                // Pages of `page_size` (at most `$top`), linked by `@odata.nextLink` with a
                // `$skiptoken` as Graph does.
                let query = |name: &str| {
                    request
                        .url
                        .query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                };
                let top: usize = query("$top").and_then(|t| t.parse().ok()).unwrap_or(100);
                let skip: usize = match query("$skiptoken") {
                    Some(t) => match t.strip_prefix("RFNwdAIAAQAAAB") {
                        Some(n) => n.parse().unwrap_or(usize::MAX),
                        None => return graph_error(400, "Request_BadRequest", "bad skiptoken"),
                    },
                    None => 0,
                };
                let size = top.min(s.page_size.max(1));
                let select = query("$select");
                let value: Vec<Value> = s
                    .users
                    .iter()
                    .skip(skip)
                    .take(size)
                    .map(|u| u.json(select.as_deref()))
                    .collect();
                let mut body = json!({
                    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                    "value": value,
                });
                if skip.saturating_add(size) < s.users.len() {
                    let origin = s
                        .next_link_origin
                        .clone()
                        .unwrap_or_else(|| s.origin.clone());
                    let mut next = Url::parse(&format!("{origin}/v1.0/users")).unwrap();
                    {
                        let mut q = next.query_pairs_mut();
                        for (k, v) in request.url.query_pairs().filter(|(k, _)| k != "$skiptoken") {
                            q.append_pair(&k, &v);
                        }
                        q.append_pair("$skiptoken", &format!("RFNwdAIAAQAAAB{}", skip + size));
                    }
                    body["@odata.nextLink"] = json!(next.to_string());
                }
                ResponseTemplate::new(200).set_body_json(body)
            }
            ("GET", ["v1.0", "groups", group, "transitiveMembers", "microsoft.graph.user"]) => {
                if ![ADMIN_GROUP, OTHER_GROUP].contains(group) {
                    return graph_error(
                        404,
                        "Request_ResourceNotFound",
                        &format!("Resource '{group}' does not exist or one of its queried reference-property objects are not present."),
                    );
                }
                let value: Vec<Value> = s
                    .users
                    .iter()
                    .filter(|u| u.groups.contains(group))
                    .map(|u| json!({"@odata.type": "#microsoft.graph.user", "id": u.id}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "value": value }))
            }
            ("GET", ["v1.0", "users", key]) => {
                let key = key.replace("%40", "@");
                let Some(i) = find(&s, &key) else {
                    return graph_error(
                        404,
                        "Request_ResourceNotFound",
                        &format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
                    );
                };
                let select: Option<String> = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "$select")
                    .map(|(_, v)| v.into_owned());
                ResponseTemplate::new(200).set_body_json(s.users[i].json(select.as_deref()))
            }
            ("GET", ["v1.0", "users", id, "authentication", "phoneMethods"]) => {
                let Some(i) = find(&s, id) else {
                    return graph_error(404, "Request_ResourceNotFound", "no such user");
                };
                let value: Vec<Value> = s.users[i]
                    .phones
                    .iter()
                    .enumerate()
                    .map(|(n, (number, kind))| {
                        json!({"id": format!("p{n}"), "phoneNumber": number, "phoneType": kind, "smsSignInState": "notAllowedByPolicy"})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "value": value }))
            }
            ("GET", ["v1.0", "users", id, "authentication", "emailMethods"]) => {
                let Some(i) = find(&s, id) else {
                    return graph_error(404, "Request_ResourceNotFound", "no such user");
                };
                let value: Vec<Value> = s.users[i]
                    .emails
                    .iter()
                    .map(|e| json!({"id": "3ddfcfc8-9383-446f-83cc-3ab9be4be18f", "emailAddress": e}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "value": value }))
            }
            ("POST", ["v1.0", "users", id, "checkMemberGroups"]) => {
                let Some(i) = find(&s, id) else {
                    return graph_error(404, "Request_ResourceNotFound", "no such user");
                };
                let Some(ids) = body["groupIds"].as_array() else {
                    return graph_error(400, "Request_BadRequest", "groupIds is required");
                };
                let hits: Vec<&Value> = ids
                    .iter()
                    .filter(|g| s.users[i].groups.iter().any(|m| Some(*m) == g.as_str()))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "value": hits }))
            }
            ("PATCH", ["v1.0", "users", id]) => {
                let Some(i) = find(&s, id) else {
                    return graph_error(404, "Request_ResourceNotFound", "no such user");
                };
                let profile = &body["passwordProfile"];
                let shape_ok = body.as_object().is_some_and(|o| o.len() == 1)
                    && profile.as_object().is_some_and(|o| o.len() == 2)
                    && profile["password"].as_str().is_some_and(|p| !p.is_empty())
                    && profile["forceChangePasswordNextSignIn"].is_boolean();
                if !shape_ok || s.users[i].id != *id {
                    return graph_error(
                        400,
                        "Request_BadRequest",
                        "Invalid value specified for property 'passwordProfile' of resource 'User'.",
                    );
                }
                s.patches.push(body.clone());
                s.patch_times.push(Instant::now());
                match s.script.pop_front() {
                    None => ResponseTemplate::new(204),
                    Some(Scripted::Error(status, code, message, retry_after)) => {
                        let mut r = graph_error(status, code, message);
                        if let Some(secs) = retry_after {
                            r = r.insert_header("Retry-After", secs.to_string().as_str());
                        }
                        r
                    }
                    Some(Scripted::Echo500) => graph_error(
                        500,
                        "InternalServerError",
                        &format!("failed for token {token} with body {body}"),
                    ),
                }
            }
            _ => graph_error(400, "BadRequest", "Unsupported segment type."),
        }
    }
}

impl Fake {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            expires_in: 3599,
            page_size: 2,
            origin: server.uri(),
            users: vec![
                FakeUser {
                    id: "11111111-aaaa-bbbb-cccc-000000000001",
                    upn: "jan.devries@bedrijf.nl",
                    display: "Jan de Vries",
                    enabled: true,
                    phones: vec![("+31 201234567", "office"), ("+31 612345678", "mobile")],
                    emails: vec!["jan.devries@privemail.example"],
                    groups: vec![OTHER_GROUP],
                    mail: Some("jan.devries@bedrijf.nl"),
                    department: Some("Finance"),
                    mobile_phone: Some("+31 612345678"),
                },
                FakeUser {
                    id: "22222222-aaaa-bbbb-cccc-000000000002",
                    upn: "pieter.admin@bedrijf.nl",
                    display: "Pieter Bakker",
                    enabled: true,
                    phones: vec![],
                    emails: vec![],
                    groups: vec![OTHER_GROUP, ADMIN_GROUP],
                    mail: Some("pieter.admin@bedrijf.nl"),
                    department: Some("ICT"),
                    mobile_phone: None,
                },
                FakeUser {
                    id: "33333333-aaaa-bbbb-cccc-000000000003",
                    upn: "oud.account@bedrijf.nl",
                    display: "Oud Account",
                    enabled: false,
                    phones: vec![],
                    emails: vec![],
                    groups: vec![],
                    mail: None,
                    department: None,
                    mobile_phone: None,
                },
            ],
            ..State::default()
        }));
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(TokenEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(path_regex("^/v1.0/"))
            .respond_with(GraphEndpoint(state.clone()))
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    fn config(&self) -> DirectoryConfig {
        DirectoryConfig {
            tenant_id: Some(TENANT.into()),
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(Secret::new(CLIENT_SECRET)),
            graph_url: Some(self.server.uri()),
            login_url: Some(format!("{}/", self.server.uri())),
            admin_groups: vec![ADMIN_GROUP.into()],
            timeout_secs: 5,
            ..DirectoryConfig::default()
        }
    }

    fn directory(&self) -> GraphDirectory {
        GraphDirectory::new(&self.config()).unwrap()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every Graph call carried a token the fake had issued and still accepted.
    fn assert_all_authorized(&self) {
        self.with(|s| {
            assert_eq!(s.unauthorized, 0, "calls: {:?}", s.seen);
            assert_eq!(s.bad_token_requests, 0);
            assert!(!s.seen.is_empty());
        });
    }
}

fn login(s: &str) -> LoginName {
    LoginName::parse(s).unwrap()
}

fn password(raw: &str, who: &LoginName) -> NewPassword {
    NewPassword::parse(raw, who, &Default::default()).unwrap()
}

#[tokio::test]
async fn find_maps_fields_and_registered_methods() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let jan = dir
        .find(&login("Jan.deVries@Bedrijf.nl"))
        .await
        .unwrap()
        .expect("Jan exists");
    assert_eq!(jan.login.as_str(), "jan.devries@bedrijf.nl");
    assert_eq!(jan.display_name, "Jan de Vries");
    assert!(!jan.disabled && !jan.locked && !jan.admin);
    // The mobile method, not the office phone.
    assert_eq!(jan.mobile.unwrap().as_str(), "+31612345678");
    assert_eq!(
        jan.alternate_email.unwrap().as_str(),
        "jan.devries@privemail.example"
    );
    fake.assert_all_authorized();
    fake.with(|s| {
        let paths: Vec<&str> = s.seen.iter().map(|(_, p, _)| p.as_str()).collect();
        assert!(
            paths.contains(&"/v1.0/users/jan.devries@bedrijf.nl"),
            "{paths:?}"
        );
        assert!(paths
            .iter()
            .any(|p| p.ends_with("/authentication/phoneMethods")));
        assert!(paths
            .iter()
            .any(|p| p.ends_with("/authentication/emailMethods")));
        assert!(paths.iter().any(|p| p.ends_with("/checkMemberGroups")));
    });
}

#[tokio::test]
async fn unknown_user_is_none() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    assert!(dir
        .find(&login("niemand@bedrijf.nl"))
        .await
        .unwrap()
        .is_none());
    fake.assert_all_authorized();
}

#[tokio::test]
async fn disabled_user_is_disabled_and_not_reset() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("oud.account@bedrijf.nl");
    let oud = dir.find(&who).await.unwrap().unwrap();
    assert!(oud.disabled);
    assert!(oud.mobile.is_none() && oud.alternate_email.is_none());
    let err = dir
        .reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound), "{err:?}");
    fake.with(|s| assert!(s.patches.is_empty()));
}

#[tokio::test]
async fn admin_through_check_member_groups() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let pieter = dir
        .find(&login("pieter.admin@bedrijf.nl"))
        .await
        .unwrap()
        .unwrap();
    assert!(pieter.admin);
    let jan = dir
        .find(&login("jan.devries@bedrijf.nl"))
        .await
        .unwrap()
        .unwrap();
    assert!(!jan.admin, "a member of another group only");

    // Without admin groups Graph is not asked.
    let mut config = fake.config();
    config.admin_groups.clear();
    let plain = GraphDirectory::new(&config).unwrap();
    let before = fake.with(|s| s.seen.len());
    let pieter = plain
        .find(&login("pieter.admin@bedrijf.nl"))
        .await
        .unwrap()
        .unwrap();
    assert!(!pieter.admin);
    fake.with(|s| {
        assert!(!s.seen[before..]
            .iter()
            .any(|(_, p, _)| p.ends_with("checkMemberGroups")));
    });
    fake.assert_all_authorized();
}

/// The admin report's listing: `GET /users` page by page through `@odata.nextLink`, each page
/// with the bearer token; admins are the transitive members of `admin_groups`.
#[tokio::test]
async fn list_accounts_follows_next_links_through_every_page() {
    let fake = Fake::start().await;
    fake.with(|s| {
        s.users.push(FakeUser {
            id: "44444444-aaaa-bbbb-cccc-000000000004",
            upn: "e.nieuw@bedrijf.nl",
            display: "Eva Nieuw",
            enabled: true,
            phones: vec![],
            emails: vec![],
            groups: vec![],
            mail: Some("e.nieuw@bedrijf.nl"),
            department: Some("  "),
            mobile_phone: None,
        });
        // A guest: its UPN is no login name, so it is left out.
        s.users.push(FakeUser {
            id: "55555555-aaaa-bbbb-cccc-000000000005",
            upn: "gast_extern.example#EXT#@bedrijf.onmicrosoft.com",
            display: "Gast",
            enabled: true,
            phones: vec![],
            emails: vec![],
            groups: vec![],
            mail: None,
            department: None,
            mobile_phone: None,
        });
    });
    let dir = fake.directory();
    let accounts = dir.list_accounts().await.unwrap();
    let logins: Vec<&str> = accounts.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(
        logins,
        [
            "e.nieuw@bedrijf.nl",
            "jan.devries@bedrijf.nl",
            "oud.account@bedrijf.nl",
            "pieter.admin@bedrijf.nl"
        ]
    );
    let jan = &accounts[1];
    assert_eq!(jan.department.as_deref(), Some("Finance"));
    assert_eq!(
        jan.work_email.as_ref().unwrap().as_str(),
        "jan.devries@bedrijf.nl"
    );
    // From the user's mobilePhone: a listing does not read each user's methods.
    assert_eq!(jan.mobile.as_ref().unwrap().as_str(), "+31612345678");
    assert!(!jan.admin && !jan.disabled);
    assert!(accounts[2].disabled, "accountEnabled false");
    assert!(accounts[3].admin, "transitive member of the admin group");
    assert_eq!(accounts[3].department.as_deref(), Some("ICT"));
    assert_eq!(accounts[0].department, None, "a blank department is none");
    fake.assert_all_authorized();
    fake.with(|s| {
        let pages = s
            .seen
            .iter()
            .filter(|(m, p, _)| m == "GET" && p == "/v1.0/users")
            .count();
        assert_eq!(pages, 3, "five users, two per page");
        assert!(s
            .seen
            .iter()
            .any(|(_, p, _)| p.ends_with("/transitiveMembers/microsoft.graph.user")));
        assert!(
            !s.seen
                .iter()
                .any(|(_, p, _)| p.contains("/authentication/")),
            "no per-user method reads"
        );
    });

    // find sees the same work mailbox and department.
    let found = dir
        .find(&login("jan.devries@bedrijf.nl"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.work_email, jan.work_email);
    assert_eq!(found.department, jan.department);
}

/// The bearer token goes with each next-page request: a link to another host is not followed.
#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let fake = Fake::start().await;
    fake.with(|s| s.next_link_origin = Some("https://graph.evil.example".into()));
    let err = fake.directory().list_accounts().await.unwrap_err();
    match &err {
        DirectoryError::Unavailable(msg) => {
            assert!(msg.contains("next page link"), "{msg}");
            assert!(
                !msg.contains("graph-token") && !msg.contains(CLIENT_SECRET),
                "{msg}"
            );
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    fake.with(|s| {
        let pages = s.seen.iter().filter(|(_, p, _)| p == "/v1.0/users").count();
        assert_eq!(pages, 1);
    });
}

/// A Graph that fails mid-listing makes the listing unavailable, never a partial list.
#[tokio::test]
async fn a_failing_listing_is_unavailable_without_secrets() {
    let fake = Fake::start().await;
    fake.with(|s| s.down = true);
    match fake.directory().list_accounts().await {
        Err(DirectoryError::Unavailable(msg)) => {
            assert!(
                !msg.contains("graph-token") && !msg.contains(CLIENT_SECRET),
                "{msg}"
            );
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn reset_sends_the_password_profile() {
    let fake = Fake::start().await;
    let who = login("jan.devries@bedrijf.nl");
    fake.directory()
        .reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap();
    let mut config = fake.config();
    config.must_change_at_next_sign_in = true;
    GraphDirectory::new(&config)
        .unwrap()
        .reset_password(&who, &password("Groene appel op de fiets 42", &who))
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(
            s.patches,
            vec![
                json!({"passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}}),
                json!({"passwordProfile": {"password": "Groene appel op de fiets 42", "forceChangePasswordNextSignIn": true}}),
            ]
        );
        let patch_paths: Vec<&str> = s
            .seen
            .iter()
            .filter(|(m, _, _)| m == "PATCH")
            .map(|(_, p, _)| p.as_str())
            .collect();
        assert_eq!(
            patch_paths,
            vec!["/v1.0/users/11111111-aaaa-bbbb-cccc-000000000001"; 2],
            "PATCH by object id"
        );
    });
    fake.assert_all_authorized();
}

#[tokio::test]
async fn password_policy_errors_are_rejections() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("jan.devries@bedrijf.nl");
    fake.with(|s| {
        s.script.push_back(Scripted::Error(
            400,
            "Request_BadRequest",
            "The specified password does not comply with password complexity requirements. Please provide a different password.",
            None,
        ));
        s.script.push_back(Scripted::Error(
            400,
            "Request_BadRequest",
            "The specified password has been used recently and does not comply with password history requirements.",
            None,
        ));
        s.script.push_back(Scripted::Error(
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'passwordProfile' of resource 'User'.",
            None,
        ));
    });
    let pw = password(PASSWORD, &who);
    let err = dir.reset_password(&who, &pw).await.unwrap_err();
    assert!(
        matches!(err, DirectoryError::Rejected(DirectoryRule::Complexity)),
        "{err:?}"
    );
    let err = dir.reset_password(&who, &pw).await.unwrap_err();
    assert!(
        matches!(err, DirectoryError::Rejected(DirectoryRule::History)),
        "{err:?}"
    );
    // A 400 that is not about the password is not the user's fault.
    let err = dir.reset_password(&who, &pw).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn throttling_waits_for_retry_after_once() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("jan.devries@bedrijf.nl");
    fake.with(|s| {
        s.script.push_back(Scripted::Error(
            429,
            "TooManyRequests",
            "Too many requests.",
            Some(1),
        ))
    });
    let started = Instant::now();
    dir.reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    fake.with(|s| {
        assert_eq!(s.patches.len(), 2);
        assert!(s.patch_times[1] - s.patch_times[0] >= Duration::from_secs(1));
    });

    // Throttled twice: one retry only, then unavailable.
    fake.with(|s| {
        for _ in 0..2 {
            s.script.push_back(Scripted::Error(
                503,
                "serviceNotAvailable",
                "Service unavailable.",
                Some(1),
            ));
        }
    });
    let err = dir
        .reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    fake.with(|s| assert_eq!(s.patches.len(), 4));

    // A Retry-After longer than the bot will wait in a chat turn: no wait, no retry.
    fake.with(|s| {
        s.script.push_back(Scripted::Error(
            429,
            "TooManyRequests",
            "Too many requests.",
            Some(120),
        ))
    });
    let started = Instant::now();
    let err = dir
        .reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    fake.with(|s| assert_eq!(s.patches.len(), 5));
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_call_repeated() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("jan.devries@bedrijf.nl");
    assert!(dir.find(&who).await.unwrap().is_some());
    fake.with(|s| {
        assert_eq!(s.token_requests, 1);
        s.revoke_next = true;
    });
    dir.reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(s.token_requests, 2, "a new token after the 401");
        assert_eq!(s.unauthorized, 1);
        assert_eq!(s.patches.len(), 1);
        let last = s.seen.last().unwrap();
        assert_eq!(last.0, "PATCH");
        assert_eq!(last.2.as_deref(), Some("eyJ0eXAi.graph-token-2.sig"));
    });
    // A token Graph keeps refusing: one new token, then unavailable (no loop).
    let before = fake.with(|s| {
        s.refuse_all = true;
        s.token_requests
    });
    let err = dir.find(&who).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("401"), "{err}");
    fake.with(|s| assert_eq!(s.token_requests, before + 1));
}

#[tokio::test]
async fn the_token_is_cached_until_it_expires() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("jan.devries@bedrijf.nl");
    dir.ping().await.unwrap();
    dir.find(&who).await.unwrap().unwrap();
    dir.find(&login("pieter.admin@bedrijf.nl"))
        .await
        .unwrap()
        .unwrap();
    dir.reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(s.token_requests, 1);
        assert!(s.seen.len() >= 8);
    });
    fake.assert_all_authorized();

    // A token that lives one second is renewed rather than sent expired.
    let fake = Fake::start().await;
    fake.with(|s| s.expires_in = 1);
    let dir = fake.directory();
    dir.ping().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    dir.ping().await.unwrap();
    fake.with(|s| assert_eq!(s.token_requests, 2));
}

#[tokio::test]
async fn failures_are_unavailable_without_secrets() {
    let fake = Fake::start().await;
    let dir = fake.directory();
    let who = login("jan.devries@bedrijf.nl");
    fake.with(|s| s.script.push_back(Scripted::Echo500));
    let err = dir
        .reset_password(&who, &password(PASSWORD, &who))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(text.contains("500"), "{text}");
    for secret in [CLIENT_SECRET, PASSWORD, "graph-token-1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
        assert!(!format!("{err:?}").contains(secret));
        assert!(!format!("{dir:?}").contains(secret));
    }

    // Graph down for every call.
    fake.with(|s| s.down = true);
    let err = dir.find(&who).await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(dir.ping().await.is_err());

    // A wrong client secret: the token endpoint refuses; its echo of the secret is scrubbed.
    let mut config = fake.config();
    let wrong = "wr0ng-s3cr3t-value";
    config.client_secret = Some(Secret::new(wrong));
    let err = GraphDirectory::new(&config)
        .unwrap()
        .find(&who)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(wrong), "{text}");

    // Nobody listening.
    let mut config = fake.config();
    config.graph_url = Some("http://127.0.0.1:9".into());
    config.login_url = Some("http://127.0.0.1:9".into());
    let err = GraphDirectory::new(&config)
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn unlock_is_unsupported_and_config_is_checked() {
    let fake = Fake::start().await;
    let err = fake
        .directory()
        .unlock(&login("jan.devries@bedrijf.nl"))
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::UnlockUnsupported), "{err:?}");
    fake.with(|s| assert!(s.seen.is_empty(), "Graph is not even asked"));

    let mut config = fake.config();
    config.client_secret = None;
    assert!(GraphDirectory::new(&config).is_err());
    let mut config = fake.config();
    config.tenant_id = Some("../evil".into());
    assert!(GraphDirectory::new(&config).is_err());
}

// ---- end to end through the core ----

struct Chat {
    core: Core,
    outbox: Arc<Outbox>,
    l10n: Localizer,
    chat: ChatRef,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Chat {
    fn text(&self, out: &TurnOutput) -> String {
        out.replies
            .iter()
            .map(|r| self.l10n.render(out.lang, r).text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn say(&self, text: &str) -> (TurnOutput, String) {
        let out = self
            .core
            .handle(&self.chat, Input::Text(text.into()))
            .await
            .unwrap();
        let text = self.text(&out);
        (out, text)
    }

    async fn press(&self, button: &str) -> (TurnOutput, String) {
        let out = self
            .core
            .handle(&self.chat, Input::Button(button.into()))
            .await
            .unwrap();
        let text = self.text(&out);
        (out, text)
    }

    async fn last_email_code(&self) -> String {
        self.outbox
            .lines()
            .await
            .iter()
            .rev()
            .find(|l| l["channel"] == "email" && l.get("code").is_some())
            .and_then(|l| l["code"].as_str().map(str::to_string))
            .expect("an e-mail code in the outbox")
    }

    fn totp(&self) -> String {
        use sspr_bot::recovery::Clock;
        let secret = totp_rs::Secret::Encoded(JAN_TOTP.into())
            .to_bytes()
            .unwrap();
        let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret);
        totp.generate(self.clock.now().timestamp() as u64)
    }
}

#[tokio::test]
async fn forgot_password_end_to_end_through_graph() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sspr.db")).await.unwrap();
    let outbox = Arc::new(Outbox::new(dir.path().join("outbox.jsonl")));
    let keys = Keys::random();
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 6, 55, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let secret = totp_rs::Secret::Encoded(JAN_TOTP.into())
        .to_bytes()
        .unwrap();
    store
        .upsert_registration(
            &Registration {
                account: "jan.devries@bedrijf.nl".into(),
                alternate_email: Some("jan.devries@privemail.example".into()),
                mobile: None,
                totp_secret: Some(keys.encrypt(&secret)),
                push_device: None,
            },
            now.timestamp(),
        )
        .await
        .unwrap();
    let core = Core::new(
        store,
        Arc::new(fake.directory()),
        Providers::outbox(outbox.clone()),
        keys,
        clock.clone(),
        Rules::default(),
    );
    let chat = Chat {
        core,
        outbox,
        l10n: Localizer::new().unwrap(),
        chat: ChatRef::new("test:graph-chat", "test:graph-user"),
        clock,
        _dir: dir,
    };

    let (_, _) = chat.say("/taal en").await;
    let (out, _) = chat.say("hoi").await;
    assert_eq!(out.lang, Lang::En);
    chat.say("jan.devries@bedrijf.nl").await;
    let (_, text) = chat.press("reason:forgot").await;
    assert!(text.contains("Verification step 1 of 2"), "{text}");
    let (_, text) = chat.press("method:email").await;
    assert!(text.contains("ja*****@pr*****.example"), "{text}");
    let code = chat.last_email_code().await;
    let (_, text) = chat.say(&code).await;
    assert!(
        text.contains("Now choose a second, different method"),
        "{text}"
    );
    chat.press("method:totp").await;
    let (out, text) = chat.say(&chat.totp()).await;
    assert!(text.contains("Both verification steps passed"), "{text}");
    assert!(out.expects_secret);
    fake.with(|s| assert!(s.patches.is_empty(), "nothing reset yet"));
    let (_, text) = chat.say(PASSWORD).await;
    assert!(text.contains("once more"), "{text}");
    let (_, text) = chat.say(PASSWORD).await;
    assert!(text.contains("Your password has been changed"), "{text}");

    fake.with(|s| {
        assert_eq!(
            s.patches,
            vec![json!({"passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false}})]
        );
    });
    fake.assert_all_authorized();
    let notices: Vec<Value> = chat
        .outbox
        .lines()
        .await
        .into_iter()
        .filter(|l| l["notice"] == "password_reset")
        .collect();
    assert_eq!(notices.len(), 1);
}
