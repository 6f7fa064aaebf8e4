//! Replies as Bot Framework activities for Teams: plain text, or an Adaptive Card when the reply
//! has buttons, asks for a secret or shows a QR code; the card that replaces a used one; and the
//! parsing of what a card's submit sends back.
//!
//! Every JSON value is built with `serde_json`, never by concatenation, so a label or text with
//! quotes, braces or newlines can't change the structure.
//!
//! # Choices made for Teams
//! - **Plain replies** use `textFormat: "plain"`: Teams shows the text "with no formatting
//!   applied", so nothing a message or a value in it (a login name with `_`, a masked address
//!   `ja*****@pr*****.example`) contains is read as Markdown or HTML, and nothing needs escaping.
//!   Paragraphs (the reply's lines) are separated by a blank line (`\n\n`): Teams drops a single
//!   `\n` in Markdown text, and a blank line is a paragraph break in either format.
//! - **Cards** are Adaptive Cards [`CARD_VERSION`] 1.4 (Teams desktop renders 1.5, 1.4 is safe on
//!   mobile), one `TextBlock` (`wrap: true`) per paragraph, one `Action.Submit` per button with
//!   `data` `{"sspr": "button", "id": …, "card": …}`. Button actions set
//!   `associatedInputs: "none"`: a button never carries (or waits for) the typed secret, so
//!   *Cancel* works with an empty, required password field. Teams shows up to
//!   [`MAX_ACTIONS_PER_SET`] actions in a row and hides the rest in an overflow menu (or drops
//!   them on older clients), so a card with more buttons puts them in `ActionSet`s of at most
//!   that many in the body instead. The activity's `summary` (first paragraph, shortened) is
//!   what Teams shows as the chat-list preview instead of "Sent a card"; toast notifications do
//!   not use it reliably (clients differ).
//! - **Secrets** (new password, security answer) are typed into an `Input.Text` with
//!   `style: "password"` ("information masking" in Teams; it masks on the client only, the value
//!   reaches the bot in clear over HTTPS), `isRequired`, submitted by an action labelled with the
//!   caller's translated `submit_label` and data `{"sspr": "secret", "card": …}`; Teams merges
//!   the input into the data as `"secret": "<typed text>"`. The style value is schema 1.5: a
//!   client that did not know it would show an unmasked field, but the text would still never
//!   become a chat message.
//! - **QR codes**: an `Image` with a `data:image/png;base64,…` URL (the `url` of an Image takes a
//!   data URI since schema 1.2; Teams takes PNG up to 1024 × 1024 px and 1 MB; the code from
//!   [`crate::channels::qr::png`] is under 600 px and a few kB) that can be enlarged
//!   (`msteams.allowExpand`), and the `otpauth://` URI as text to copy into an authenticator on
//!   the same phone.
//!
//! Card ids (`card`) let the channel tell a submit of the current card from one of an old card,
//! and find the card to replace with [`used_card`].

use base64::Engine;
use serde_json::{json, Value};

use crate::dialogue::Lang;
use crate::i18n::RenderedReply;

/// The attachment content type of an Adaptive Card.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The Adaptive Card schema version of every card.
pub const CARD_VERSION: &str = "1.4";
pub const SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// The `id` of the password input, and so the key of the typed text in the submitted value.
pub const SECRET_INPUT_ID: &str = "secret";
/// The longest secret accepted from a submit; longer values are junk.
pub const MAX_SECRET_CHARS: usize = 2048;
/// The longest button or card id accepted from a submit (ours are far shorter).
pub const MAX_ID_CHARS: usize = 256;
/// The most actions Teams shows in one row.
pub const MAX_ACTIONS_PER_SET: usize = 6;
/// The `maxLength` hint of the password field (Entra ID's longest password).
pub const SECRET_MAX_LENGTH: usize = 256;
/// How wide the QR code is drawn: scannable from a laptop screen, fits a phone.
const QR_WIDTH: &str = "240px";
/// The longest notification summary.
const SUMMARY_CHARS: usize = 120;

/// What a card's submit action sent back.
#[derive(Clone, PartialEq, Eq)]
pub enum Submit {
    /// A button was pressed on card `card`.
    Button { id: String, card: String },
    /// A secret was typed into card `card`'s password field.
    Secret { text: String, card: String },
}

impl Submit {
    /// The card the submit came from.
    pub fn card(&self) -> &str {
        match self {
            Submit::Button { card, .. } | Submit::Secret { card, .. } => card,
        }
    }
}

impl std::fmt::Debug for Submit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Submit::Button { id, card } => f
                .debug_struct("Button")
                .field("id", id)
                .field("card", card)
                .finish(),
            Submit::Secret { card, .. } => f
                .debug_struct("Secret")
                .field("text", &"******")
                .field("card", card)
                .finish(),
        }
    }
}

/// The reply as a Teams `message` activity: plain text when it has no buttons, secret or QR
/// code; otherwise an Adaptive Card whose actions carry `card_id`. `submit_label` is the
/// translated label of the button that sends a typed secret (only used when `reply.secret`).
pub fn reply_activity(
    reply: &RenderedReply,
    lang: Lang,
    card_id: &str,
    submit_label: &str,
) -> Value {
    let paragraphs = paragraphs(&reply.text);
    if reply.buttons.is_empty() && !reply.secret && reply.qr.is_none() {
        return json!({
            "type": "message",
            "locale": lang.code(),
            "textFormat": "plain",
            "text": paragraphs.join("\n\n"),
        });
    }
    let mut body: Vec<Value> = paragraphs.iter().map(|p| text_block(p)).collect();
    if let Some(qr) = &reply.qr {
        body.extend(qr_elements(&qr.0, lang));
    }
    let mut actions = Vec::new();
    if reply.secret {
        body.push(json!({
            "type": "Input.Text",
            "id": SECRET_INPUT_ID,
            "style": "password",
            "isRequired": true,
            "maxLength": SECRET_MAX_LENGTH,
        }));
        actions.push(json!({
            "type": "Action.Submit",
            "title": submit_label,
            "style": "positive",
            "data": {"sspr": "secret", "card": card_id},
        }));
    }
    for b in &reply.buttons {
        actions.push(json!({
            "type": "Action.Submit",
            "title": b.label,
            "associatedInputs": "none",
            "data": {"sspr": "button", "id": b.id, "card": card_id},
        }));
    }
    let mut activity = card_activity(card(body, actions, lang, &paragraphs));
    activity["locale"] = json!(lang.code());
    if let Some(first) = paragraphs.first() {
        activity["summary"] = json!(shorten(first, SUMMARY_CHARS));
    }
    activity
}

/// The activity that replaces a card once it was used: the same text, no actions or inputs (so
/// it can't be submitted again), no QR code, and a line naming what was chosen. Never pass a
/// secret as `chosen_label`; for a secret card pass a label such as "sent".
pub fn used_card(reply_text: &str, chosen_label: Option<&str>) -> Value {
    let paragraphs = paragraphs(reply_text);
    let mut body: Vec<Value> = paragraphs.iter().map(|p| text_block(p)).collect();
    if let Some(label) = chosen_label.map(str::trim).filter(|l| !l.is_empty()) {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("✓ {label}"),
            "wrap": true,
            "weight": "bolder",
            "separator": true,
        }));
    }
    let content = json!({
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": paragraphs.join("\n\n"),
        "body": body,
    });
    card_activity(content)
}

/// Reads the `value` of an incoming message activity sent by one of our cards' submit actions.
/// Anything else (text messages, other cards, wrong types, missing or oversized fields) is
/// `None`. Extra keys are ignored.
pub fn parse_submit(value: &Value) -> Option<Submit> {
    let o = value.as_object()?;
    let card = bounded(o.get("card")?, MAX_ID_CHARS).filter(|c| !c.trim().is_empty())?;
    match o.get("sspr")?.as_str()? {
        "button" => {
            let id = bounded(o.get("id")?, MAX_ID_CHARS).filter(|i| !i.trim().is_empty())?;
            Some(Submit::Button { id, card })
        }
        "secret" => {
            let text = bounded(o.get(SECRET_INPUT_ID)?, MAX_SECRET_CHARS)?;
            Some(Submit::Secret { text, card })
        }
        _ => None,
    }
}

fn bounded(v: &Value, max_chars: usize) -> Option<String> {
    let s = v.as_str()?;
    // A byte length beyond 4 × max can't be within max characters; saves counting huge strings.
    if s.len() > max_chars * 4 || s.chars().count() > max_chars {
        return None;
    }
    Some(s.to_string())
}

/// The reply's non-empty lines.
fn paragraphs(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// The QR code as an image (when it can be drawn) and the URI as text.
fn qr_elements(uri: &str, lang: Lang) -> Vec<Value> {
    let mut out = Vec::new();
    match crate::channels::qr::png(uri) {
        Ok(png) => {
            let data = base64::engine::general_purpose::STANDARD.encode(png);
            out.push(json!({
                "type": "Image",
                "url": format!("data:image/png;base64,{data}"),
                "altText": match lang {
                    Lang::Nl => "QR-code",
                    Lang::En => "QR code",
                },
                "width": QR_WIDTH,
                "horizontalAlignment": "center",
                "msteams": {"allowExpand": true},
            }));
        }
        // The error names the URI's length only; the URI is a secret.
        Err(e) => tracing::warn!(error = format!("{e:#}"), "no QR code image for Teams"),
    }
    out.push(json!({
        "type": "TextBlock",
        "text": uri,
        "wrap": true,
        "fontType": "monospace",
        "size": "small",
    }));
    out
}

/// An Adaptive Card; at most [`MAX_ACTIONS_PER_SET`] actions go in the card's action bar, more
/// go into `ActionSet`s of that size at the end of the body.
fn card(mut body: Vec<Value>, actions: Vec<Value>, lang: Lang, paragraphs: &[&str]) -> Value {
    let mut content = json!({
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": CARD_VERSION,
        "lang": lang.code(),
        "fallbackText": paragraphs.join("\n\n"),
    });
    if actions.len() > MAX_ACTIONS_PER_SET {
        for chunk in actions.chunks(MAX_ACTIONS_PER_SET) {
            body.push(json!({"type": "ActionSet", "actions": chunk}));
        }
    } else if !actions.is_empty() {
        content["actions"] = Value::Array(actions);
    }
    content["body"] = Value::Array(body);
    content
}

fn card_activity(content: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "content": content}],
    })
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        s.chars().take(max - 1).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialogue::QrCode;
    use crate::i18n::RenderedButton;

    fn reply(text: &str, buttons: &[(&str, &str)], secret: bool) -> RenderedReply {
        RenderedReply {
            text: text.to_string(),
            buttons: buttons
                .iter()
                .map(|(id, label)| RenderedButton {
                    id: id.to_string(),
                    label: label.to_string(),
                })
                .collect(),
            secret,
            qr: None,
        }
    }

    fn content(activity: &Value) -> &Value {
        assert_eq!(activity["type"], "message");
        let attachments = activity["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0]["contentType"], CONTENT_TYPE);
        let c = &attachments[0]["content"];
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["version"], "1.4");
        assert_eq!(c["$schema"], SCHEMA);
        c
    }

    fn elements<'a>(c: &'a Value, kind: &str) -> Vec<&'a Value> {
        c["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// Every action of the card, from the action bar and from ActionSets.
    fn actions(c: &Value) -> Vec<&Value> {
        let mut out: Vec<&Value> = c["actions"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for set in elements(c, "ActionSet") {
            out.extend(set["actions"].as_array().unwrap());
        }
        out
    }

    #[test]
    fn a_reply_without_buttons_is_plain_text_with_blank_lines_between_paragraphs() {
        let r = reply(
            "Hallo Jan.\nWe sturen een code naar ja*****@pr*****.example.\n\n",
            &[],
            false,
        );
        let a = reply_activity(&r, Lang::Nl, "c1", "Verstuur");
        assert_eq!(
            a,
            json!({
                "type": "message",
                "locale": "nl",
                "textFormat": "plain",
                "text": "Hallo Jan.\n\nWe sturen een code naar ja*****@pr*****.example.",
            })
        );
        assert!(a.get("attachments").is_none());
    }

    #[test]
    fn buttons_become_an_adaptive_card_with_one_submit_per_button() {
        let r = reply(
            "Which method?\nStep 1 of 2.",
            &[("method:email", "E-mail"), ("cancel", "Stop")],
            false,
        );
        let a = reply_activity(&r, Lang::En, "card-7", "Send");
        assert_eq!(a["locale"], "en");
        assert_eq!(a["summary"], "Which method?");
        let c = content(&a);
        assert_eq!(c["lang"], "en");
        let blocks = elements(c, "TextBlock");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["text"], "Which method?");
        assert_eq!(blocks[1]["text"], "Step 1 of 2.");
        assert!(blocks.iter().all(|b| b["wrap"] == true));
        assert!(elements(c, "Input.Text").is_empty());
        assert_eq!(
            c["actions"],
            json!([
                {"type": "Action.Submit", "title": "E-mail", "associatedInputs": "none",
                 "data": {"sspr": "button", "id": "method:email", "card": "card-7"}},
                {"type": "Action.Submit", "title": "Stop", "associatedInputs": "none",
                 "data": {"sspr": "button", "id": "cancel", "card": "card-7"}},
            ])
        );
    }

    #[test]
    fn a_secret_reply_has_a_required_password_field_and_a_translated_submit() {
        let r = reply("Type your new password.", &[("cancel", "Stoppen")], true);
        let a = reply_activity(&r, Lang::Nl, "c9", "Verstuur");
        let c = content(&a);
        let inputs = elements(c, "Input.Text");
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0]["id"], "secret");
        assert_eq!(inputs[0]["style"], "password");
        assert_eq!(inputs[0]["isRequired"], true);
        assert_eq!(inputs[0]["maxLength"], 256);
        let acts = actions(c);
        assert_eq!(acts.len(), 2);
        assert_eq!(acts[0]["type"], "Action.Submit");
        assert_eq!(acts[0]["title"], "Verstuur");
        assert_eq!(acts[0]["data"], json!({"sspr": "secret", "card": "c9"}));
        assert!(
            acts[0].get("associatedInputs").is_none(),
            "the submit sends the field"
        );
        assert_eq!(acts[1]["title"], "Stoppen");
        assert_eq!(
            acts[1]["associatedInputs"], "none",
            "cancel works with an empty field"
        );
        assert_eq!(
            acts[1]["data"],
            json!({"sspr": "button", "id": "cancel", "card": "c9"})
        );
    }

    #[test]
    fn a_secret_reply_without_buttons_is_still_a_card() {
        let r = reply("Answer question 1.", &[], true);
        let a = reply_activity(&r, Lang::En, "c2", "Send");
        let c = content(&a);
        assert_eq!(elements(c, "Input.Text").len(), 1);
        assert_eq!(actions(c).len(), 1);
    }

    #[test]
    fn quotes_braces_and_newlines_in_texts_and_labels_stay_inside_their_strings() {
        let nasty = r#"say "hi"}]}, {"type": "Action.OpenUrl", "url": "https://evil"} \ ✓"#;
        let r = reply(nasty, &[("x\"}", nasty)], true);
        let a = reply_activity(&r, Lang::En, "c\"}{", nasty);
        let round: Value = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(round, a);
        let c = content(&a);
        assert_eq!(elements(c, "TextBlock")[0]["text"], nasty);
        let acts = actions(c);
        assert_eq!(acts.len(), 2);
        assert!(acts.iter().all(|x| x["type"] == "Action.Submit"));
        assert_eq!(acts[0]["title"], nasty);
        assert_eq!(acts[1]["data"]["id"], "x\"}");
        assert_eq!(acts[1]["data"]["card"], "c\"}{");
        let plain = reply_activity(&reply(nasty, &[], false), Lang::En, "c", "Send");
        assert_eq!(plain["text"], nasty);
        let used = used_card(nasty, Some(nasty));
        assert!(content(&used)["body"][1]["text"]
            .as_str()
            .unwrap()
            .ends_with(nasty));
    }

    #[test]
    fn more_than_six_buttons_are_split_into_action_sets_of_six() {
        let buttons: Vec<(String, String)> = (0..8)
            .map(|i| (format!("b{i}"), format!("Button {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = buttons
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let a = reply_activity(&reply("Pick one.", &refs, false), Lang::En, "c", "Send");
        let c = content(&a);
        assert!(c.get("actions").is_none());
        let sets = elements(c, "ActionSet");
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0]["actions"].as_array().unwrap().len(), 6);
        assert_eq!(sets[1]["actions"].as_array().unwrap().len(), 2);
        let ids: Vec<&str> = actions(c)
            .iter()
            .map(|x| x["data"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"]);
        // The text comes before the buttons.
        assert_eq!(c["body"][0]["type"], "TextBlock");
    }

    #[test]
    fn a_qr_reply_shows_the_code_as_a_data_uri_png_and_the_uri_as_text() {
        let uri = "otpauth://totp/SSPR:jan%40bedrijf.nl?secret=JBSWY3DPEHPK3PXP&issuer=SSPR";
        let mut r = reply(
            "Scan this code with your authenticator app.",
            &[("cancel", "Stop")],
            false,
        );
        r.qr = Some(QrCode(uri.to_string()));
        let a = reply_activity(&r, Lang::En, "c", "Send");
        let c = content(&a);
        let images = elements(c, "Image");
        assert_eq!(images.len(), 1);
        let url = images[0]["url"].as_str().unwrap();
        let data = url
            .strip_prefix("data:image/png;base64,")
            .expect("a PNG data URI");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(png, crate::channels::qr::png(uri).unwrap());
        assert!(png.len() < 1024 * 1024);
        assert_eq!(images[0]["msteams"]["allowExpand"], true);
        assert_eq!(images[0]["altText"], "QR code");
        assert!(elements(c, "TextBlock").iter().any(|b| b["text"] == uri));
        // The secret stays out of the notification and the fallback text.
        assert!(!a["summary"].as_str().unwrap().contains("JBSWY3DP"));
        assert!(!c["fallbackText"].as_str().unwrap().contains("JBSWY3DP"));
    }

    #[test]
    fn a_qr_reply_whose_uri_is_too_long_for_a_code_still_shows_the_uri() {
        let uri = format!("otpauth://totp/x?secret={}", "A".repeat(5000));
        let mut r = reply("Scan.", &[], false);
        r.qr = Some(QrCode(uri.clone()));
        let a = reply_activity(&r, Lang::Nl, "c", "Verstuur");
        let c = content(&a);
        assert!(elements(c, "Image").is_empty());
        assert!(elements(c, "TextBlock")
            .iter()
            .any(|b| b["text"] == uri.as_str()));
    }

    #[test]
    fn a_used_card_keeps_the_text_drops_actions_and_inputs_and_names_the_choice() {
        let used = used_card("Which method?\nStep 1 of 2.", Some("E-mail"));
        let c = content(&used);
        assert!(c.get("actions").is_none());
        let body = c["body"].as_array().unwrap();
        assert_eq!(body.len(), 3);
        assert!(body.iter().all(|e| e["type"] == "TextBlock"));
        assert_eq!(body[0]["text"], "Which method?");
        assert_eq!(body[2]["text"], "✓ E-mail");
        let without = used_card("Type your new password.", None);
        assert_eq!(content(&without)["body"].as_array().unwrap().len(), 1);
        let blank = used_card("Text.", Some("  "));
        assert_eq!(content(&blank)["body"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn submits_of_our_cards_round_trip() {
        let r = reply("Password?", &[("cancel", "Stop")], true);
        let a = reply_activity(&r, Lang::En, "card-3", "Send");
        let acts: Vec<Value> = actions(content(&a)).into_iter().cloned().collect();
        // Teams merges the card's inputs into the submit action's data.
        let mut secret = acts[0]["data"].clone();
        secret["secret"] = json!(" Paars konijn eet 7 wortels ");
        assert_eq!(
            parse_submit(&secret),
            Some(Submit::Secret {
                text: " Paars konijn eet 7 wortels ".into(),
                card: "card-3".into()
            })
        );
        assert_eq!(
            parse_submit(&acts[1]["data"]),
            Some(Submit::Button {
                id: "cancel".into(),
                card: "card-3".into()
            })
        );
        assert_eq!(parse_submit(&acts[1]["data"]).unwrap().card(), "card-3");
        // Extra keys (an old client sending the inputs with every action) are ignored.
        let mut button = acts[1]["data"].clone();
        button["secret"] = json!("typed");
        assert!(matches!(parse_submit(&button), Some(Submit::Button { .. })));
    }

    #[test]
    fn junk_is_not_a_submit() {
        let long = "x".repeat(MAX_SECRET_CHARS + 1);
        let long_id = "x".repeat(MAX_ID_CHARS + 1);
        let junk = [
            Value::Null,
            json!("button"),
            json!(42),
            json!([{"sspr": "button", "id": "a", "card": "c"}]),
            json!({}),
            json!({"sspr": "button", "id": "a"}),
            json!({"sspr": "button", "card": "c"}),
            json!({"sspr": "button", "id": "", "card": "c"}),
            json!({"sspr": "button", "id": "a", "card": " "}),
            json!({"sspr": "button", "id": 1, "card": "c"}),
            json!({"sspr": "button", "id": ["a"], "card": "c"}),
            json!({"sspr": "button", "id": "a", "card": {"c": 1}}),
            json!({"sspr": "button", "id": long_id, "card": "c"}),
            json!({"sspr": "button", "id": "a", "card": long_id}),
            json!({"sspr": "secret", "card": "c"}),
            json!({"sspr": "secret", "card": "c", "secret": null}),
            json!({"sspr": "secret", "card": "c", "secret": 1234}),
            json!({"sspr": "secret", "card": "c", "secret": long}),
            json!({"sspr": "other", "id": "a", "card": "c"}),
            json!({"sspr": true, "id": "a", "card": "c"}),
            json!({"action": "button", "id": "a", "card": "c"}),
        ];
        for j in junk {
            assert_eq!(parse_submit(&j), None, "{j}");
        }
        let max = "é".repeat(MAX_SECRET_CHARS);
        assert!(parse_submit(&json!({"sspr": "secret", "card": "c", "secret": max})).is_some());
    }

    #[test]
    fn a_submitted_secret_is_not_printed_by_debug() {
        let s = Submit::Secret {
            text: "Paars konijn".into(),
            card: "c".into(),
        };
        let d = format!("{s:?}");
        assert!(
            !d.contains("Paars") && d.contains("******") && d.contains("\"c\""),
            "{d}"
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_submit_never_panics(kind in ".{0,12}", id in ".{0,40}", card in ".{0,40}", n in 0u64..5) {
            let v = json!({"sspr": kind, "id": id, "card": card, "secret": id, "n": n});
            let _ = parse_submit(&v);
            let _ = parse_submit(&json!([kind, id, n]));
        }
    }
}
