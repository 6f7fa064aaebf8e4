//! Every user-visible string is a Fluent message in `locales/nl` or `locales/en`, compiled into
//! the binary so a fresh machine needs no files beside it. Dutch is the default.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::Serialize;

use crate::dialogue::{Arg, Lang, QrCode, Reply, Text};

const NL: &str = include_str!("../locales/nl/main.ftl");
const EN: &str = include_str!("../locales/en/main.ftl");

/// Both languages' bundles; cheap to share (`Sync`).
pub struct Localizer {
    nl: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

/// A reply in words: what a channel shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RenderedReply {
    pub text: String,
    pub buttons: Vec<RenderedButton>,
    pub secret: bool,
    /// The `otpauth://` URI to show as a QR code (authenticator registration); a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<QrCode>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RenderedButton {
    pub id: String,
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("locale {lang}: {detail}")]
    Resource { lang: &'static str, detail: String },
    #[error("message {id} missing in {lang}")]
    Missing { id: String, lang: &'static str },
    #[error("message {id} in {lang}: {detail}")]
    Format {
        id: String,
        lang: &'static str,
        detail: String,
    },
}

fn bundle(lang: &'static str, source: &str) -> Result<FluentBundle<FluentResource>, I18nError> {
    let resource =
        FluentResource::try_new(source.to_string()).map_err(|(_, errs)| I18nError::Resource {
            lang,
            detail: format!("{errs:?}"),
        })?;
    let id = lang.parse().map_err(|e| I18nError::Resource {
        lang,
        detail: format!("{e:?}"),
    })?;
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks: they show up as junk in terminals and some chat clients.
    b.set_use_isolating(false);
    b.add_resource(resource)
        .map_err(|errs| I18nError::Resource {
            lang,
            detail: format!("{errs:?}"),
        })?;
    Ok(b)
}

impl Localizer {
    pub fn new() -> Result<Self, I18nError> {
        Ok(Self {
            nl: bundle("nl", NL)?,
            en: bundle("en", EN)?,
        })
    }

    fn bundle(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        match lang {
            Lang::Nl => &self.nl,
            Lang::En => &self.en,
        }
    }

    /// Formats one message; an error if it is missing or does not format cleanly.
    pub fn try_text(&self, lang: Lang, t: &Text) -> Result<String, I18nError> {
        let bundle = self.bundle(lang);
        let pattern = bundle
            .get_message(t.id)
            .and_then(|m| m.value())
            .ok_or_else(|| I18nError::Missing {
                id: t.id.to_string(),
                lang: lang.code(),
            })?;
        let mut args = FluentArgs::new();
        for (name, value) in &t.args {
            match value {
                Arg::Str(s) => args.set(*name, FluentValue::from(s.as_str())),
                Arg::Num(n) => args.set(*name, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
        if !errors.is_empty() {
            return Err(I18nError::Format {
                id: t.id.to_string(),
                lang: lang.code(),
                detail: format!("{errors:?}"),
            });
        }
        Ok(text.trim().to_string())
    }

    /// Formats one message; a missing message is logged and shown as its id rather than failing
    /// the user's turn.
    pub fn text(&self, lang: Lang, t: &Text) -> String {
        self.try_text(lang, t).unwrap_or_else(|e| {
            tracing::error!(error = %e, "untranslated message");
            t.id.to_string()
        })
    }

    pub fn render(&self, lang: Lang, reply: &Reply) -> RenderedReply {
        RenderedReply {
            text: reply
                .texts
                .iter()
                .map(|t| self.text(lang, t))
                .collect::<Vec<_>>()
                .join("\n"),
            buttons: reply
                .buttons
                .iter()
                .map(|b| RenderedButton {
                    id: b.id.clone(),
                    label: self.text(lang, &b.label),
                })
                .collect(),
            secret: reply.secret,
            qr: reply.qr.clone(),
        }
    }

    /// Message ids defined for `lang` (tests check both languages define the same set).
    pub fn message_ids(lang: Lang) -> Vec<String> {
        let source = match lang {
            Lang::Nl => NL,
            Lang::En => EN,
        };
        let mut ids: Vec<String> = source
            .lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_string()))
            .collect();
        ids.sort();
        ids
    }
}

/// Text made safe (rendered messages in e-mails and web pages) to put between HTML tags or in an attribute value.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_define_the_same_messages() {
        let nl = Localizer::message_ids(Lang::Nl);
        let en = Localizer::message_ids(Lang::En);
        assert!(nl.len() > 50);
        assert_eq!(nl, en);
    }

    #[test]
    fn arguments_are_filled_in_without_isolation_marks() {
        let l = Localizer::new().unwrap();
        let t = Text::new("send-too-soon").num("seconds", 42);
        assert_eq!(
            l.try_text(Lang::En, &t).unwrap(),
            "Please wait 42 more seconds before asking for a new code."
        );
        assert!(l.try_text(Lang::Nl, &t).unwrap().contains("42 seconden"));
    }

    #[test]
    fn a_missing_message_is_an_error() {
        let l = Localizer::new().unwrap();
        assert!(l.try_text(Lang::Nl, &Text::new("no-such-message")).is_err());
    }
}
