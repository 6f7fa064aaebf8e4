use serde::Serialize;

/// A value for a Fluent placeable.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Arg {
    Str(String),
    Num(i64),
}

/// One Fluent message with its arguments. The engine never holds translated text; channels render.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Text {
    pub id: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

impl Text {
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, Arg::Str(value.into())));
        self
    }

    pub fn num(mut self, name: &'static str, value: i64) -> Self {
        self.args.push((name, Arg::Num(value)));
        self
    }
}

/// A choice offered to the user: an inline-keyboard button, a card action, a numbered option.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Button {
    /// Stable and short (Telegram caps callback data at 64 bytes).
    pub id: String,
    pub label: Text,
}

impl Button {
    pub fn new(id: impl Into<String>, label: Text) -> Self {
        Self {
            id: id.into(),
            label,
        }
    }
}

/// An `otpauth://` URI to show as a QR code while an authenticator app is registered. It carries
/// the new TOTP secret, so it is kept out of `Debug` output, never stored in a conversation, and
/// shown only in the reply that registers it: as a picture where the platform can send one, as
/// text in the terminal.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct QrCode(pub String);

impl std::fmt::Debug for QrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QrCode(******)")
    }
}

/// One chat message: paragraphs, buttons, and whether the user's answer to it is secret (the
/// channel then keeps it out of the chat history: no echo, deleted message, password input).
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
pub struct Reply {
    pub texts: Vec<Text>,
    pub buttons: Vec<Button>,
    pub secret: bool,
    /// A QR code to show with this message (authenticator registration only).
    pub qr: Option<QrCode>,
}

impl Reply {
    pub fn text(t: Text) -> Self {
        Self {
            texts: vec![t],
            ..Self::default()
        }
    }

    pub fn then(mut self, t: Text) -> Self {
        self.texts.push(t);
        self
    }
}
