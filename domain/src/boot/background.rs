//! A custom Windows PE background. Windows PE 10 shows `X:\Windows\System32\winpe.jpg`; an
//! admin's PNG, JPEG or BMP is checked (a real picture, of a size a screen shows) and kept as
//! the JPEG Windows PE expects. A JPEG is kept as it came (decoded once to prove it is one);
//! other formats are converted at high quality.

use image::{ImageFormat, ImageReader, Limits, codecs::jpeg::JpegEncoder};

use crate::{Error, Result};

/// Larger files are refused: a background is a picture, not an archive.
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// 8K UHD: larger than any screen Windows PE drives.
pub const MAX_WIDTH: u32 = 7680;
pub const MAX_HEIGHT: u32 = 4320;

fn invalid(message: String) -> Error {
    Error::invalid("background", message)
}

/// Checks `bytes` (named `name`, for messages) and returns the JPEG to put into the image.
pub fn to_winpe_jpeg(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(format!(
            "{name} has {} bytes; a background may have at most {} MB",
            bytes.len(),
            MAX_FILE_BYTES >> 20
        )));
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp)) => f,
        Ok(other) => {
            return Err(invalid(format!(
                "{name} is a {} picture; use a PNG, JPEG or BMP file",
                other
                    .extensions_str()
                    .first()
                    .copied()
                    .unwrap_or("other")
                    .to_ascii_uppercase()
            )));
        }
        Err(_) => {
            return Err(invalid(format!(
                "{name} is not a picture (neither PNG, JPEG nor BMP)"
            )));
        }
    };
    // The header alone: the size is checked before anything is decoded.
    let (width, height) = ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| invalid(format!("{name} cannot be read as a picture: {e}")))?;
    if width > MAX_WIDTH || height > MAX_HEIGHT {
        return Err(invalid(format!(
            "{name} is {width}×{height} pixels; a background may be at most {MAX_WIDTH}×{MAX_HEIGHT}"
        )));
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits_for_decode());
    let picture = reader
        .decode()
        .map_err(|e| invalid(format!("{name} cannot be read as a picture: {e}")))?;
    if format == ImageFormat::Jpeg {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&picture.to_rgb8())
        .map_err(|e| Error::Internal(format!("converting {name} to JPEG: {e}")))?;
    Ok(out)
}

fn limits_for_decode() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_WIDTH);
    limits.max_image_height = Some(MAX_HEIGHT);
    limits.max_alloc = Some(512 << 20);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        picture
            .write_to(&mut out, ImageFormat::Png)
            .expect("encode");
        out.into_inner()
    }

    #[test]
    fn pictures_become_jpeg() {
        let jpeg = to_winpe_jpeg("corp.png", &png(64, 48)).expect("converts");
        assert_eq!(image::guess_format(&jpeg).ok(), Some(ImageFormat::Jpeg));
        // A JPEG stays as it came.
        assert_eq!(to_winpe_jpeg("corp.jpg", &jpeg).ok(), Some(jpeg.clone()));
    }

    #[test]
    fn what_is_not_a_usable_picture_is_refused_with_a_reason() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("notes.txt", b"hello".to_vec(), "is not a picture"),
            ("cut.png", png(64, 48)[..60].to_vec(), "cannot be read"),
            ("huge.png", png(7681, 2), "at most 7680"),
            (
                "anim.gif",
                b"GIF89a\x01\x00\x01\x00".to_vec(),
                "use a PNG, JPEG or BMP",
            ),
        ];
        for (name, bytes, expected) in cases {
            match to_winpe_jpeg(name, &bytes) {
                Err(e) => assert!(e.to_string().contains(expected), "{name}: {e}"),
                Ok(_) => panic!("{name} was accepted"),
            }
        }
    }
}
