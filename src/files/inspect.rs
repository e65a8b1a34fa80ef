//! What a file is, from its bytes: the content type by magic numbers (`infer`), never the client's
//! claim; whether browsers may show it inline (only raster images that cannot run script); and for
//! those images, their size and a thumbnail, decoded under pixel and memory limits so that a
//! decompression bomb is refused from its header, before any pixel is decoded.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// The most pixels an image may have (a bomb announces billions in a few bytes).
pub const MAX_PIXELS: u64 = 64_000_000;
/// The longest side an image may have.
pub const MAX_SIDE: u32 = 20_000;
/// The most memory one decode may take.
const MAX_DECODE_BYTES: u64 = 300 << 20;
/// Images up to this size get a thumbnail (larger ones are kept in memory no longer than that).
pub const MAX_PREVIEW_SOURCE: usize = 16 << 20;
/// The thumbnail's bounding box.
pub const THUMBNAIL_SIDE: u32 = 400;
/// Bytes read before the type is decided.
pub const SNIFF_BYTES: usize = 8192;

/// Content types served inline: raster images browsers render without running anything.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The content type of a file that starts with `head`.
pub fn content_type(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    if head.is_empty() {
        return "application/octet-stream";
    }
    // Text (HTML and SVG included) is served as plain text, as an attachment.
    match std::str::from_utf8(head) {
        Ok(_) => "text/plain; charset=utf-8",
        // A multi-byte character cut at the end of the sniffed bytes is still text.
        Err(e) if e.error_len().is_none() && head.len() - e.valid_up_to() < 4 => "text/plain; charset=utf-8",
        Err(_) => "application/octet-stream",
    }
}

/// Types a browser would run script in, were it to render them: sent as opaque bytes.
const ACTIVE_TYPES: [&str; 7] = [
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
];

/// The `Content-Type` a file of type `mime` is sent with: its own, except for types that can run
/// script, which go out as `application/octet-stream` (and every non-image as an attachment).
pub fn served_type(mime: &str) -> &str {
    if ACTIVE_TYPES.contains(&mime) { "application/octet-stream" } else { mime }
}

/// Whether a browser may show this type inline in our origin.
pub fn is_inline(mime: &str) -> bool {
    INLINE_TYPES.contains(&mime)
}

/// Why an image was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge {
    pub width: u32,
    pub height: u32,
}

/// An image's size and its thumbnail (PNG), when it could be made.
pub struct Preview {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Option<Vec<u8>>,
}

fn format_of(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader
}

/// The size of an image of type `mime` from its first bytes (or all of them), and a thumbnail when
/// `whole` holds the entire file. `Ok(None)` for types without previews or headers that do not parse
/// (the file is kept, without a preview); `Err` for an image too large to decode. CPU-bound: call it
/// from a blocking thread.
pub fn preview(mime: &str, bytes: &[u8], whole: bool) -> Result<Option<Preview>, TooLarge> {
    let Some(format) = format_of(mime) else { return Ok(None) };
    let (width, height) = match ImageReader::new(Cursor::new(bytes)).with_guessed_format() {
        Ok(r) if r.format() == Some(format) => match r.into_dimensions() {
            Ok(d) => d,
            Err(_) => return Ok(None),
        },
        _ => return Ok(None),
    };
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(TooLarge { width, height });
    }
    let thumbnail = if whole {
        reader(bytes, format).decode().ok().and_then(|image| {
            let small = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
            let mut out = Cursor::new(Vec::new());
            small.write_to(&mut out, ImageFormat::Png).ok().map(|()| out.into_inner())
        })
    } else {
        None
    };
    Ok(Some(Preview { width, height, thumbnail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 10, 10]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn the_type_comes_from_the_bytes_not_the_name() {
        assert_eq!(content_type(&png(2, 2)), "image/png");
        assert_eq!(content_type(b"<html><script>alert(1)</script></html>"), "text/html");
        assert_eq!(served_type("text/html"), "application/octet-stream", "HTML is never sent as HTML");
        assert_eq!(
            content_type(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(content_type(&[0xff, 0x00, 0xfe, 0x01]), "application/octet-stream");
        assert_eq!(content_type(b""), "application/octet-stream");
        assert!(is_inline("image/png") && !is_inline("text/plain; charset=utf-8") && !is_inline("image/svg+xml"));
    }

    #[test]
    fn an_image_gets_its_size_and_a_thumbnail_within_the_box() {
        let p = preview("image/png", &png(1200, 600), true).unwrap().unwrap();
        assert_eq!((p.width, p.height), (1200, 600));
        let thumb = image::load_from_memory(&p.thumbnail.unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (400, 200));
    }

    /// CRC-32 as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        // A valid PNG header announcing 30 000 × 30 000 pixels (900 MP) before a few bytes of data.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(preview("image/png", &bomb, true).err(), Some(TooLarge { width: 30_000, height: 30_000 }));
    }
}
