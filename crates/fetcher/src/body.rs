//! Reading a response body within limits and undoing its Content-Encoding as it arrives.
//!
//! Decompression is done here rather than by the HTTP library so that both sizes can be
//! capped: the bytes read from the network (`max_body_bytes`) and the document they expand
//! to (`max_decompressed_bytes`). Each chunk is decompressed as soon as it arrives into a
//! buffer that refuses to grow past the cap, so a compression bomb stops at the cap with a
//! clear error and never occupies more memory than that. A stream that ends before its
//! compressed data does (a truncated gzip member, a deflate stream without its final block, a
//! brotli stream cut short) is an error too, never a silently shortened document.
//!
//! Real-world leniency: a body labelled gzip that does not start with the gzip magic bytes is
//! taken as it is (some servers and proxies label bodies they already decompressed), and an
//! unlabelled body that starts with the gzip magic bytes is decompressed (feeds served as
//! `.xml.gz` files). HTTP "deflate" is meant to be zlib-wrapped, but raw deflate is common;
//! the first two bytes tell them apart.

use crate::FetchError;
use std::io::Write;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The Content-Encoding of a response, as far as we can undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
}

impl ContentEncoding {
    /// Parses a Content-Encoding header value. `Err` carries an encoding we cannot undo.
    pub fn from_header(value: Option<&str>) -> Result<ContentEncoding, String> {
        let Some(value) = value else { return Ok(ContentEncoding::Identity) };
        let codings: Vec<String> = value
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        match codings.as_slice() {
            [] => Ok(ContentEncoding::Identity),
            [one] => match one.as_str() {
                "gzip" | "x-gzip" => Ok(ContentEncoding::Gzip),
                "deflate" => Ok(ContentEncoding::Deflate),
                "br" => Ok(ContentEncoding::Brotli),
                _ => Err(value.trim().to_string()),
            },
            _ => Err(value.trim().to_string()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Brotli => "brotli",
        }
    }
}

/// A `Vec` that refuses to grow past a limit; the decompressors write into it.
struct CappedSink {
    buf: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl CappedSink {
    fn new(limit: u64) -> CappedSink {
        CappedSink { buf: Vec::new(), limit, exceeded: false }
    }
}

impl Write for CappedSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + data.len() as u64 > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("decompressed size limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// zlib-wrapped or raw deflate, decided by the first two bytes, decoded with flate2's
/// low-level API so that the end of the stream is known (the writer API cannot tell a
/// complete stream from a truncated one).
struct Inflate {
    state: flate2::Decompress,
    out: CappedSink,
    scratch: Vec<u8>,
    done: bool,
}

impl Inflate {
    fn new(zlib: bool, limit: u64) -> Inflate {
        Inflate {
            state: flate2::Decompress::new(zlib),
            out: CappedSink::new(limit),
            scratch: vec![0; 32 * 1024],
            done: false,
        }
    }

    fn push(&mut self, mut input: &[u8]) -> std::io::Result<()> {
        while !input.is_empty() && !self.done {
            let before_in = self.state.total_in();
            let before_out = self.state.total_out();
            let status = self
                .state
                .decompress(input, &mut self.scratch, flate2::FlushDecompress::None)
                .map_err(std::io::Error::other)?;
            let consumed = (self.state.total_in() - before_in) as usize;
            let produced = (self.state.total_out() - before_out) as usize;
            self.out.write_all(&self.scratch[..produced])?;
            input = &input[consumed..];
            match status {
                flate2::Status::StreamEnd => self.done = true,
                flate2::Status::Ok => {}
                flate2::Status::BufError if consumed == 0 && produced == 0 => {
                    return Err(std::io::Error::other("the deflate stream makes no progress"));
                }
                flate2::Status::BufError => {}
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        // Drain output still held inside the decompressor.
        loop {
            let before_out = self.state.total_out();
            let status = self
                .state
                .decompress(&[], &mut self.scratch, flate2::FlushDecompress::Finish)
                .map_err(std::io::Error::other)?;
            let produced = (self.state.total_out() - before_out) as usize;
            self.out.write_all(&self.scratch[..produced])?;
            if status == flate2::Status::StreamEnd {
                self.done = true;
            }
            if produced == 0 {
                break;
            }
        }
        if self.done {
            Ok(())
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the deflate stream ends early (truncated)"))
        }
    }
}

enum Stage {
    /// Waiting for the first two bytes to decide how the body is really encoded.
    Sniffing(ContentEncoding, Vec<u8>),
    Identity(CappedSink),
    Gzip(Box<flate2::write::MultiGzDecoder<CappedSink>>),
    Inflate(Box<Inflate>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<CappedSink>>),
}

/// Accumulates a response body, decompressing as it goes, within both limits.
pub struct BodyReader {
    stage: Stage,
    encoding: ContentEncoding,
    wire_bytes: u64,
    max_wire: u64,
    max_decoded: u64,
}

impl BodyReader {
    pub fn new(encoding: ContentEncoding, max_wire: u64, max_decoded: u64) -> BodyReader {
        BodyReader { stage: Stage::Sniffing(encoding, Vec::new()), encoding, wire_bytes: 0, max_wire, max_decoded }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        self.wire_bytes += chunk.len() as u64;
        if self.wire_bytes > self.max_wire {
            return Err(FetchError::TooLarge { limit: self.max_wire });
        }
        if let Stage::Sniffing(_, pending) = &mut self.stage {
            pending.extend_from_slice(chunk);
            if pending.len() < 2 {
                return Ok(());
            }
            let pending = std::mem::take(pending);
            self.decide(&pending);
            return self.feed(&pending);
        }
        self.feed(chunk)
    }

    /// Chooses the decoder from the declared encoding and the first bytes of the body.
    fn decide(&mut self, head: &[u8]) {
        let Stage::Sniffing(declared, _) = &self.stage else { return };
        let gzip_magic = head.starts_with(&GZIP_MAGIC);
        let actual = match declared {
            ContentEncoding::Gzip if !gzip_magic => ContentEncoding::Identity,
            ContentEncoding::Identity if gzip_magic => ContentEncoding::Gzip,
            other => *other,
        };
        self.encoding = actual;
        let sink = CappedSink::new(self.max_decoded);
        self.stage = match actual {
            ContentEncoding::Identity => Stage::Identity(sink),
            ContentEncoding::Gzip => Stage::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            ContentEncoding::Deflate => {
                // RFC 1950: CMF says deflate (low nibble 8) and CMF*256+FLG is a multiple of 31.
                let zlib =
                    head.len() >= 2 && head[0] & 0x0f == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                Stage::Inflate(Box::new(Inflate::new(zlib, self.max_decoded)))
            }
            ContentEncoding::Brotli => {
                Stage::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(sink, 16 * 1024)))
            }
        };
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        let result = match &mut self.stage {
            Stage::Sniffing(..) => Ok(()),
            Stage::Identity(sink) => {
                if sink.write_all(chunk).is_err() {
                    // Uncompressed: the document limit is the one that applies.
                    return Err(FetchError::TooLarge { limit: self.max_decoded });
                }
                Ok(())
            }
            Stage::Gzip(d) => d.write_all(chunk),
            Stage::Inflate(d) => d.push(chunk),
            Stage::Brotli(d) => d.write_all(chunk),
        };
        result.map_err(|e| self.decode_error(e))
    }

    fn sink_exceeded(&self) -> bool {
        match &self.stage {
            Stage::Sniffing(..) => false,
            Stage::Identity(s) => s.exceeded,
            Stage::Gzip(d) => d.get_ref().exceeded,
            Stage::Inflate(d) => d.out.exceeded,
            Stage::Brotli(d) => d.get_ref().exceeded,
        }
    }

    fn decode_error(&self, e: std::io::Error) -> FetchError {
        if self.sink_exceeded() {
            FetchError::DecompressedTooLarge { limit: self.max_decoded, encoding: self.encoding.name() }
        } else {
            FetchError::Decompress { encoding: self.encoding.name(), source: e }
        }
    }

    /// The whole document, once the body has ended.
    pub fn finish(mut self) -> Result<Vec<u8>, FetchError> {
        if let Stage::Sniffing(_, pending) = &mut self.stage {
            let pending = std::mem::take(pending);
            self.decide(&pending);
            self.feed(&pending)?;
        }
        let finished = match &mut self.stage {
            Stage::Sniffing(..) | Stage::Identity(_) => Ok(()),
            Stage::Gzip(d) => d.try_finish(),
            Stage::Inflate(d) => d.finish(),
            Stage::Brotli(d) => d.close(),
        };
        if let Err(e) = finished {
            return Err(self.decode_error(e));
        }
        Ok(match self.stage {
            Stage::Sniffing(..) => Vec::new(),
            Stage::Identity(sink) => sink.buf,
            Stage::Gzip(d) => match d.finish() {
                Ok(sink) => sink.buf,
                Err(e) => return Err(FetchError::Decompress { encoding: "gzip", source: e }),
            },
            Stage::Inflate(d) => d.out.buf,
            Stage::Brotli(d) => match d.into_inner() {
                Ok(sink) | Err(sink) => sink.buf,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(encoding: ContentEncoding, body: &[u8], chunk: usize, max_decoded: u64) -> Result<Vec<u8>, FetchError> {
        let mut r = BodyReader::new(encoding, u64::MAX, max_decoded);
        for c in body.chunks(chunk.max(1)) {
            r.push(c)?;
        }
        r.finish()
    }

    #[test]
    fn gzip_zlib_raw_deflate_and_brotli_round_trip_in_any_chunking() {
        let doc = "<rss><channel><title>Ünïcode</title></channel></rss>".repeat(200).into_bytes();
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&doc).unwrap();
        let zlib = z.finish().unwrap();
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(&doc).unwrap();
        let raw = d.finish().unwrap();
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &doc[..], &mut br, &Default::default()).unwrap();
        for chunk in [1, 7, 4096] {
            assert_eq!(read_all(ContentEncoding::Gzip, &gzip(&doc), chunk, 1 << 20).unwrap(), doc);
            assert_eq!(read_all(ContentEncoding::Deflate, &zlib, chunk, 1 << 20).unwrap(), doc);
            assert_eq!(read_all(ContentEncoding::Deflate, &raw, chunk, 1 << 20).unwrap(), doc);
            assert_eq!(read_all(ContentEncoding::Brotli, &br, chunk, 1 << 20).unwrap(), doc);
        }
    }

    #[test]
    fn mislabelled_and_unlabelled_gzip() {
        let doc = b"<rss version=\"2.0\"></rss>".to_vec();
        assert_eq!(read_all(ContentEncoding::Gzip, &doc, 3, 1 << 20).unwrap(), doc);
        assert_eq!(read_all(ContentEncoding::Identity, &gzip(&doc), 3, 1 << 20).unwrap(), doc);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let doc = "<item>some text that compresses</item>".repeat(100).into_bytes();
        let gz = gzip(&doc);
        let err = read_all(ContentEncoding::Gzip, &gz[..gz.len() - 12], 100, 1 << 20).unwrap_err();
        assert!(matches!(err, FetchError::Decompress { encoding: "gzip", .. }), "{err}");
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(&doc).unwrap();
        let raw = d.finish().unwrap();
        let err = read_all(ContentEncoding::Deflate, &raw[..raw.len() / 2], 100, 1 << 20).unwrap_err();
        assert!(matches!(err, FetchError::Decompress { encoding: "deflate", .. }), "{err}");
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &doc[..], &mut br, &Default::default()).unwrap();
        let err = read_all(ContentEncoding::Brotli, &br[..br.len() / 2], 100, 1 << 20).unwrap_err();
        assert!(matches!(err, FetchError::Decompress { encoding: "brotli", .. }), "{err}");
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let zeros = vec![0u8; 8 << 20];
        let bomb = gzip(&zeros);
        let err = read_all(ContentEncoding::Gzip, &bomb, 16 * 1024, 1 << 20).unwrap_err();
        assert!(matches!(err, FetchError::DecompressedTooLarge { limit: 1048576, .. }), "{err}");
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &zeros[..], &mut br, &Default::default()).unwrap();
        let err = read_all(ContentEncoding::Brotli, &br, 16 * 1024, 1 << 20).unwrap_err();
        assert!(matches!(err, FetchError::DecompressedTooLarge { .. }), "{err}");
    }

    #[test]
    fn the_wire_limit_counts_compressed_bytes() {
        let mut r = BodyReader::new(ContentEncoding::Identity, 10, 100);
        r.push(b"0123456789").unwrap();
        assert!(matches!(r.push(b"x"), Err(FetchError::TooLarge { limit: 10 })));
    }

    #[test]
    fn encodings_we_cannot_undo_are_named() {
        assert_eq!(ContentEncoding::from_header(Some("gzip")), Ok(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_header(Some(" X-GZIP ")), Ok(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_header(Some("identity")), Ok(ContentEncoding::Identity));
        assert_eq!(ContentEncoding::from_header(Some("zstd")), Err("zstd".to_string()));
        assert!(ContentEncoding::from_header(Some("gzip, br")).is_err());
    }
}
