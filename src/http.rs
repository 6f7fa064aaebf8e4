//! The one HTTP server: health, readiness and metrics, and the "this wasn't me" page behind the
//! link in a notice e-mail; platform webhooks and provider callbacks join it as their channels
//! land.

use crate::i18n::escape_html;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::dialogue::{Lang, Text};
use crate::i18n::Localizer;
use crate::recovery::Core;

/// Where the "this wasn't me" link of a notice e-mail points (`{public_url}/not-me?t=…`).
pub const NOT_ME_PATH: &str = "/not-me";

pub fn router(core: Arc<Core>) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&core));
    match Localizer::new() {
        Ok(l10n) => router.merge(not_me_router(core, Arc::new(l10n))),
        Err(e) => {
            // The locales are compiled in and tested; should they ever not load, the link's
            // page is missing (404) and the e-mail's phone number is the way.
            tracing::error!(error = %e, "locales do not load: no \"this wasn't me\" page");
            router
        }
    }
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database and the directory answer; 503 with which one does not.
async fn readyz(State(core): State<Arc<Core>>) -> impl IntoResponse {
    let (database, directory) = core.readiness().await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if database && directory {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"database": word(database), "directory": word(directory)})),
    )
}

async fn metrics(State(core): State<Arc<Core>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        core.metrics().encode(),
    )
}

// ---- "this wasn't me" (issue 8 item 4) ----
//
// The notice after a reset or unlock links to `GET /not-me?t=…`. Mail scanners and link previews
// follow links, so the GET changes nothing: it checks the token and shows a page with a button;
// only that button's `POST /not-me` blocks recovery (`Core::report_not_me`, via "email") and
// alerts the desk. A token that is not genuine or has expired gets one 400 page that says no
// more than that. No page shows anything from the request except the token itself, in the hidden
// field of the form, and only once it verified (escaped all the same).

#[derive(Clone)]
struct NotMe {
    core: Arc<Core>,
    l10n: Arc<Localizer>,
}

fn not_me_router(core: Arc<Core>, l10n: Arc<Localizer>) -> Router {
    Router::new()
        .route(NOT_ME_PATH, get(not_me_page).post(not_me_confirm))
        .with_state(NotMe { core, l10n })
}

/// `GET /not-me?t=…`: the explanation and the confirm button. Never changes anything.
async fn not_me_page(
    State(s): State<NotMe>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let lang = page_lang(&headers);
    let token = query.as_deref().and_then(|q| form_field(q, "t"));
    match token.filter(|t| s.core.not_me_account(t).is_some()) {
        Some(token) => {
            let text = |id| s.l10n.text(lang, &Text::new(id));
            let form = format!(
                "<form method=\"post\" action=\"not-me\">\n\
                 <input type=\"hidden\" name=\"t\" value=\"{token}\">\n\
                 <button type=\"submit\">{label}</button>\n</form>",
                token = escape_html(&token),
                label = escape_html(&text("not-me-page-confirm")),
            );
            page(
                StatusCode::OK,
                lang,
                &text("not-me-page-title"),
                &[&text("not-me-page-explain")],
                &form,
                &text("not-me-page-call"),
            )
        }
        None => invalid(&s.l10n, lang),
    }
}

/// `POST /not-me` (form field `t`): blocks recovery of the token's account and alerts the desk.
async fn not_me_confirm(State(s): State<NotMe>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = page_lang(&headers);
    let account = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| form_field(b, "t"))
        .and_then(|t| s.core.not_me_account(&t));
    let Some(account) = account else {
        return invalid(&s.l10n, lang);
    };
    let text = |id| s.l10n.text(lang, &Text::new(id));
    match s.core.report_not_me(&account, "email", None).await {
        Ok(()) => page(
            StatusCode::OK,
            lang,
            &text("not-me-page-blocked-title"),
            &[&text("not-me-page-blocked")],
            "",
            "",
        ),
        Err(e) => {
            s.core.metrics().error();
            tracing::error!(
                error = format!("{e:#}"),
                "\"this wasn't me\" by e-mail link failed"
            );
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                &text("not-me-page-error-title"),
                &[&text("not-me-page-error")],
                "",
                "",
            )
        }
    }
}

/// The one answer to a token that is missing, forged, tampered with or expired.
fn invalid(l10n: &Localizer, lang: Lang) -> Response {
    let text = |id| l10n.text(lang, &Text::new(id));
    page(
        StatusCode::BAD_REQUEST,
        lang,
        &text("not-me-page-invalid-title"),
        &[&text("not-me-page-invalid")],
        "",
        "",
    )
}

/// A small self-contained page: no script, no outside resource, not cached, no referrer (the
/// URL holds the token), not framed. `form` is trusted markup; every text is escaped here.
fn page(
    status: StatusCode,
    lang: Lang,
    title: &str,
    paragraphs: &[&str],
    form: &str,
    footer: &str,
) -> Response {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str(&format!("\n<p>{}</p>", escape_html(p)));
    }
    if !form.is_empty() {
        body.push('\n');
        body.push_str(form);
    }
    if !footer.is_empty() {
        body.push_str(&format!("\n<p>{}</p>", escape_html(footer)));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n\
         <style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;\
         line-height:1.5}}button{{font-size:1.1em;padding:.5em 1em}}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>{body}\n</body>\n</html>\n",
        lang = lang.code(),
        title = escape_html(title),
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The page's language from `Accept-Language`: the listed one of Dutch and English with the
/// highest weight (the first on a tie); Dutch when neither is listed.
fn page_lang(headers: &HeaderMap) -> Lang {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::Nl;
    };
    let mut best: Option<(f32, Lang)> = None;
    for item in value.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let lang = match tag.split('-').next().unwrap_or_default() {
            p if p.eq_ignore_ascii_case("nl") => Lang::Nl,
            p if p.eq_ignore_ascii_case("en") => Lang::En,
            _ => continue,
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Nl, |(_, lang)| lang)
}

/// The first value of `name` in `application/x-www-form-urlencoded` text (a query string or a
/// form body); `None` when absent or not valid UTF-8 after decoding.
fn form_field(encoded: &str, name: &str) -> Option<String> {
    encoded
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k).as_deref() == Some(name))
        .and_then(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn the_page_language_follows_accept_language_with_dutch_by_default() {
        assert_eq!(page_lang(&HeaderMap::new()), Lang::Nl);
        assert_eq!(page_lang(&accept("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(page_lang(&accept("NL-nl")), Lang::Nl);
        assert_eq!(page_lang(&accept("de-DE,en;q=0.5,nl;q=0.8")), Lang::Nl);
        assert_eq!(page_lang(&accept("fr, en;q=0.3")), Lang::En);
        assert_eq!(page_lang(&accept("fr, de")), Lang::Nl);
        assert_eq!(page_lang(&accept("en;q=0, nl;q=0")), Lang::Nl);
        assert_eq!(page_lang(&accept("en;q=abc")), Lang::Nl);
        assert_eq!(page_lang(&accept("en, nl")), Lang::En, "first on a tie");
    }

    #[test]
    fn form_fields_are_found_and_decoded() {
        assert_eq!(form_field("t=abc.def", "t").as_deref(), Some("abc.def"));
        assert_eq!(form_field("x=1&t=a%2Eb+c", "t").as_deref(), Some("a.b c"));
        assert_eq!(form_field("t", "t").as_deref(), Some(""));
        assert_eq!(form_field("tt=1", "t"), None);
        assert_eq!(form_field("t=%zz", "t"), None);
        assert_eq!(form_field("t=%4", "t"), None);
        assert_eq!(form_field("t=%C3%A9", "t").as_deref(), Some("é"));
        assert_eq!(form_field("", "t"), None);
    }

    #[tokio::test]
    async fn pages_escape_their_texts_and_carry_the_protective_headers() {
        let r = page(
            StatusCode::OK,
            Lang::En,
            "<b>",
            &["a & b"],
            "<form></form>",
            "\"call\"",
        );
        let h = r.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; style-src 'unsafe-inline'"));
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("<title>&lt;b&gt;</title>"), "{html}");
        assert!(
            html.contains("<p>a &amp; b</p>\n<form></form>\n<p>&quot;call&quot;</p>"),
            "{html}"
        );
        assert!(!html.contains("<b>") && !html.contains("<script"), "{html}");
    }
}
