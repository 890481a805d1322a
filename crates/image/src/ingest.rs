//! Taking a layer into the store, from any byte stream (a download, a file
//! in an OCI layout or a `docker save` tarball, a tar made from a directory):
//! the compressed bytes are hashed and kept as a blob, decompressed, hashed
//! again (the diff-id) and unpacked — in one pass. Only when both digests are
//! right do the blob and the layer directory move into place; on any failure
//! both temporary copies are removed.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};

use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};

use crate::registry::digest_from_hex;
use crate::store::Store;
use crate::unpack::{unpack_layer, Stats};
use crate::{Error, Result};

/// Hashes what passes through.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    /// The sha256 and length of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (
            digest_from_hex(&hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Copies what is read into a file as well (the blob to keep).
struct Tee<R> {
    inner: R,
    copy: fs::File,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Wraps a layer stream in the right decompressor, told by its first bytes
/// (gzip `1f 8b`, zstd `28 b5 2f fd`, else a plain tar), whatever the media type claims.
pub fn decompress<'a>(reader: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else {
        Box::new(r)
    })
}

/// A layer to ingest: what it must turn out to be.
pub struct Expected<'a> {
    /// The blob's digest (of the bytes as stored, compressed or not).
    pub digest: &'a Digest,
    /// The blob's size, if known.
    pub size: Option<u64>,
    /// The uncompressed digest the image config lists.
    pub diff_id: &'a Digest,
    /// The layer's name in errors (`sha256:… of image`).
    pub name: &'a str,
}

/// Reads a layer blob from `reader` into the store (see the module docs).
/// Blocking: call it from `spawn_blocking` in async code.
pub fn ingest_layer(store: &Store, reader: impl Read + Send, want: &Expected<'_>) -> Result<Stats> {
    let dir = store.temp_path("layer");
    let blob = store.temp_path("blob");
    let result = ingest_into(&dir, &blob, reader, want).and_then(|stats| {
        let dest = store.layer_dir(want.diff_id);
        if !dest.exists() {
            fs::rename(&dir, &dest).map_err(|source| Error::Io { path: dest, source })?;
        }
        if !store.has_blob(want.digest) {
            store.commit_blob(&blob, want.digest)?;
        }
        Ok(stats)
    });
    // Nothing half-done stays; the error, if any, is kept.
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_file(&blob);
    result
}

fn ingest_into(
    dir: &std::path::Path,
    blob: &std::path::Path,
    reader: impl Read + Send,
    want: &Expected<'_>,
) -> Result<Stats> {
    let layer_err = |source| Error::Layer {
        layer: want.name.to_string(),
        source,
    };
    fs::create_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let copy = fs::File::create(blob).map_err(|source| Error::Io {
        path: blob.to_path_buf(),
        source,
    })?;
    let mut compressed = HashingReader::new(Tee {
        inner: reader,
        copy,
    });
    let unpacked = (|| {
        let mut plain = HashingReader::new(decompress(&mut compressed).map_err(layer_err)?);
        let stats = unpack_layer(&mut plain, dir, want.name)?;
        // The tar may end before the stream does (padding): hash all of it.
        io::copy(&mut plain, &mut io::sink()).map_err(layer_err)?;
        Ok::<_, Error>((plain.finish().0, stats))
    })();
    // Read to the end whatever happened: bytes that do not match their digest
    // explain a broken archive better than the archive error does.
    io::copy(&mut compressed, &mut io::sink()).map_err(layer_err)?;
    let Tee { copy, .. } = &compressed.inner;
    copy.sync_all().map_err(|source| Error::Io {
        path: blob.to_path_buf(),
        source,
    })?;
    let (digest, size) = compressed.finish();
    if let Some(expected) = want.size.filter(|s| *s != size) {
        return Err(Error::SizeMismatch {
            url: want.name.to_string(),
            expected,
            actual: size,
        });
    }
    if &digest != want.digest {
        return Err(Error::DigestMismatch {
            url: want.name.to_string(),
            expected: want.digest.to_string(),
            actual: digest.to_string(),
        });
    }
    let (diff, stats) = unpacked?;
    if &diff != want.diff_id {
        return Err(Error::DiffIdMismatch {
            image: want.name.to_string(),
            layer: want.digest.to_string(),
            expected: want.diff_id.to_string(),
            actual: diff.to_string(),
        });
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_is_told_by_magic_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").expect("write");
        let gz = gz.finish().expect("finish");
        let zs = zstd::encode_all(&b"hello"[..], 1).expect("zstd");
        for input in [gz, zs, b"hello".to_vec()] {
            let mut out = String::new();
            decompress(&input[..])
                .expect("sniffs")
                .read_to_string(&mut out)
                .expect("reads");
            assert_eq!(out, "hello");
        }
    }

    #[test]
    fn a_wrong_diff_id_keeps_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path()).expect("store");
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "f", &b"hi"[..]).expect("append");
        let bytes = tar.into_inner().expect("tar");
        let digest = crate::registry::sha256_digest(&bytes);
        let wrong = crate::registry::sha256_digest(b"something else");
        let want = Expected {
            digest: &digest,
            size: Some(bytes.len() as u64),
            diff_id: &wrong,
            name: "test layer",
        };
        assert!(matches!(
            ingest_layer(&store, &bytes[..], &want),
            Err(Error::DiffIdMismatch { .. })
        ));
        assert!(!store.has_layer(&wrong) && !store.has_blob(&digest));
        assert_eq!(fs::read_dir(d.path().join("tmp")).expect("tmp").count(), 0);
        let want = Expected {
            digest: &digest,
            size: Some(bytes.len() as u64),
            diff_id: &digest,
            name: "test layer",
        };
        ingest_layer(&store, &bytes[..], &want)
            .expect("an uncompressed layer's diff-id is its digest");
        assert!(store.has_layer(&digest) && store.has_blob(&digest));
    }
}
