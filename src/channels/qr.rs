//! QR codes for registering an authenticator app: the `otpauth://totp/…` URI of a reply's
//! [`QrCode`](crate::dialogue::QrCode), drawn as a PNG for platforms that take pictures
//! (Telegram) and as Unicode half blocks for the terminal.
//!
//! Both carry the TOTP secret, like the URI itself: callers never log them, and the URI never
//! appears in an error from here.
//!
//! Error correction is level M (15 % of the code may be damaged), the usual choice for a code
//! read off a screen; the quiet zone is the standard's four modules.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pixels per module in the PNG: sharp on phone screens, small enough to send (an otpauth URI
/// of 100–200 bytes gives a code of 45–60 modules, under 600 × 600 px with the quiet zone).
pub const PNG_MODULE_PX: u32 = 8;
/// Modules of light border around the code, as the QR standard asks.
pub const QUIET_ZONE: u32 = 4;

const BLACK: u8 = 0x00;
const WHITE: u8 = 0xFF;

/// Runs `delete` (taking a QR code out of a chat: it holds the TOTP secret) on `tasks` once
/// `lifetime` has passed, or at once when `shutdown` is cancelled, so a channel's drain waits
/// for it. Shared by the Telegram, Teams and Discord channels.
pub fn delete_after<F>(
    tasks: &TaskTracker,
    lifetime: Duration,
    shutdown: CancellationToken,
    delete: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    tasks.spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(lifetime) => {}
            _ = shutdown.cancelled() => {}
        }
        delete.await;
    });
}

fn encode(uri: &str) -> anyhow::Result<QrCode> {
    // The error names the data length only, never the data.
    QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .with_context(|| format!("a {}-byte URI does not fit in a QR code", uri.len()))
}

/// A scannable PNG of `uri`: black modules on white, 8-bit greyscale, with the quiet zone,
/// [`PNG_MODULE_PX`] pixels per module.
pub fn png(uri: &str) -> anyhow::Result<Vec<u8>> {
    let code = encode(uri)?;
    let modules = u32::try_from(code.width()).context("QR code width")?;
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE;
    let side = side_modules * PNG_MODULE_PX;
    let row_len = side as usize;
    let mut pixels = vec![WHITE; row_len * row_len];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % code.width(), i / code.width());
        let px = (mx + QUIET_ZONE as usize) * PNG_MODULE_PX as usize;
        let py = (my + QUIET_ZONE as usize) * PNG_MODULE_PX as usize;
        for y in py..py + PNG_MODULE_PX as usize {
            pixels[y * row_len + px..y * row_len + px + PNG_MODULE_PX as usize].fill(BLACK);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("writing the PNG header")?;
        writer
            .write_image_data(&pixels)
            .context("writing the PNG image")?;
        writer.finish().context("finishing the PNG")?;
    }
    Ok(out)
}

/// `uri` as lines of Unicode half blocks (two modules per character cell, top and bottom), with
/// the quiet zone, for a terminal with light text on a dark background: the *light* modules and
/// the quiet zone are drawn as blocks, the dark modules left as background (as `qrencode -t UTF8`
/// does), so the code scans the right way round there. On a light background it shows
/// inverted, which most phone cameras read as well. Empty when the URI does not fit in a QR code;
/// callers show the URI as text in any case.
pub fn terminal(uri: &str) -> String {
    match encode(uri) {
        Ok(code) => code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "no QR code for the terminal");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/Voorbeeld%20BV:j.k.devries%40bedrijf.nl?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Voorbeeld%20BV&algorithm=SHA1&digits=6&period=30";

    /// The PNG as (width, height, one grey byte per pixel).
    fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut buf).expect("the image");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn read_back(width: usize, height: usize, grey: impl Fn(usize, usize) -> u8) -> String {
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, grey);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code found");
        grids[0].decode().expect("a readable QR code").1
    }

    #[test]
    fn the_png_is_a_square_black_on_white_code_with_a_quiet_zone() {
        let bytes = png(URI).unwrap();
        let modules = encode(URI).unwrap().width() as u32;
        let (w, h, pixels) = decode_png(&bytes);
        assert_eq!((w, h), ((modules + 2 * QUIET_ZONE) * PNG_MODULE_PX, w));
        assert!(pixels.iter().all(|p| *p == BLACK || *p == WHITE));
        assert!(pixels.contains(&BLACK) && pixels.contains(&WHITE));
        // The quiet zone: the outer four modules all round are white.
        let margin = (QUIET_ZONE * PNG_MODULE_PX) as usize;
        let side = w as usize;
        for y in 0..side {
            for x in 0..side {
                if x < margin || y < margin || x >= side - margin || y >= side - margin {
                    assert_eq!(pixels[y * side + x], WHITE, "({x}, {y}) in the quiet zone");
                }
            }
        }
        // The top-left finder pattern starts right inside it.
        assert_eq!(pixels[margin * side + margin], BLACK);
    }

    #[test]
    fn the_png_reads_back_as_the_uri() {
        let (w, h, pixels) = decode_png(&png(URI).unwrap());
        let read = read_back(w as usize, h as usize, |x, y| pixels[y * w as usize + x]);
        assert_eq!(read, URI);
    }

    #[test]
    fn the_terminal_code_is_square_and_reads_back_as_the_uri() {
        let text = terminal(URI);
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines.is_empty());
        let columns = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == columns));
        // Two modules per line: as many module rows as columns, give or take the half line.
        let rows = lines.len() * 2;
        assert!(rows == columns || rows == columns + 1, "{rows} × {columns}");
        assert!(text
            .chars()
            .all(|c| matches!(c, ' ' | '\n' | '\u{2580}' | '\u{2584}' | '\u{2588}')));
        // A block is light (the terminal's text colour), a space dark.
        let mut grid = vec![vec![0u8; columns]; rows];
        for (i, line) in lines.iter().enumerate() {
            for (x, c) in line.chars().enumerate() {
                let (top, bottom) = match c {
                    '\u{2588}' => (true, true),
                    '\u{2580}' => (true, false),
                    '\u{2584}' => (false, true),
                    _ => (false, false),
                };
                grid[2 * i][x] = if top { WHITE } else { BLACK };
                grid[2 * i + 1][x] = if bottom { WHITE } else { BLACK };
            }
        }
        // Scaled up, as a camera sees it.
        const PX: usize = 4;
        let read = read_back(columns * PX, rows * PX, |x, y| grid[y / PX][x / PX]);
        assert_eq!(read, URI);
        // The quiet zone is light: the first line is all full blocks.
        assert!(lines[0].chars().all(|c| c == '\u{2588}'));
    }

    #[test]
    fn a_uri_too_long_for_a_qr_code_is_an_error_that_does_not_repeat_it() {
        let long = format!("otpauth://totp/x?secret={}", "A".repeat(4000));
        let err = png(&long).unwrap_err();
        assert!(!format!("{err:#}").contains("AAAA"), "{err:#}");
        assert_eq!(terminal(&long), "");
    }
}
