//! Where the local bucket keeps objects and multipart uploads: one folder,
//! with every file named by a hash or an id the bucket chose, never by the
//! client's key, so no key can reach outside it. Each write goes to a
//! temporary file first and is renamed into place.
//!
//! ```text
//! objects/<sha256(key)>        the object's bytes
//! objects/<sha256(key)>.json   its key, type, size, ETag, time
//! multipart/<id>/upload.json   a multipart upload's key, type, start
//! multipart/<id>/<n>           its part n
//! sts.key                      the local STS's sealing key
//! ```

use std::{
    io,
    path::{Path, PathBuf},
};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::{clock::random_bytes, signer::hex};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub content_type: String,
    pub size: u64,
    /// With its quotes, as COS sends it.
    pub etag: String,
    /// Unix seconds.
    pub modified: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    pub key: String,
    pub content_type: String,
    /// Unix seconds.
    pub initiated: u64,
}

#[derive(Debug, Clone)]
pub struct PartMeta {
    pub number: u32,
    pub size: u64,
    /// Hex MD5, without quotes.
    pub md5: String,
}

#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
}

/// Hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

impl Disk {
    /// Opens (creating) the folder.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("objects"))?;
        std::fs::create_dir_all(dir.join("multipart"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The secret kept in `name` (32 random bytes made on first use,
    /// readable by this user only): the STS's sealing key, the root key.
    pub fn secret(&self, name: &str) -> io::Result<Vec<u8>> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(key) if key.len() == 32 => Ok(key),
            _ => {
                let key = random_bytes::<32>().to_vec();
                write_atomically(&path, &key)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(key)
            }
        }
    }

    fn object_path(&self, key: &str) -> PathBuf {
        let name = hex(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref());
        self.dir.join("objects").join(name)
    }

    pub async fn head(&self, key: &str) -> io::Result<Option<ObjectMeta>> {
        let path = self.object_path(key).with_extension("json");
        match tokio::fs::read(&path).await {
            Ok(json) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get(&self, key: &str) -> io::Result<Option<(ObjectMeta, Vec<u8>)>> {
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        match tokio::fs::read(self.object_path(key)).await {
            Ok(data) => Ok(Some((meta, data))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `data` at `key`: its bytes first, then the metadata that makes
    /// it visible.
    pub async fn put(&self, meta: &ObjectMeta, data: &[u8]) -> io::Result<()> {
        let path = self.object_path(&meta.key);
        write_atomically_async(&path, data.to_vec()).await?;
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        write_atomically_async(&path.with_extension("json"), json).await
    }

    /// Removes `key`; `false` if there was nothing.
    pub async fn delete(&self, key: &str) -> io::Result<bool> {
        let path = self.object_path(key);
        let existed = remove(&path.with_extension("json")).await?;
        remove(&path).await?;
        Ok(existed)
    }

    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        // Ids are the bucket's own hex; anything else names no upload.
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join("multipart").join(id))
    }

    pub async fn initiate(&self, meta: &UploadMeta) -> io::Result<String> {
        let id = hex(&random_bytes::<16>());
        let dir = self.dir.join("multipart").join(&id);
        tokio::fs::create_dir_all(&dir).await?;
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        write_atomically_async(&dir.join("upload.json"), json).await?;
        Ok(id)
    }

    pub async fn upload(&self, id: &str) -> io::Result<Option<UploadMeta>> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(None);
        };
        match tokio::fs::read(dir.join("upload.json")).await {
            Ok(json) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn put_part(&self, id: &str, number: u32, data: &[u8]) -> io::Result<()> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::other("no such upload"))?;
        write_atomically_async(&dir.join(number.to_string()), data.to_vec()).await
    }

    /// The parts of upload `id`, in order.
    pub async fn parts(&self, id: &str) -> io::Result<Vec<PartMeta>> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(Vec::new());
        };
        let mut parts = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let data = tokio::fs::read(entry.path()).await?;
            parts.push(PartMeta {
                number,
                size: data.len() as u64,
                md5: md5_hex(&data),
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    pub async fn part(&self, id: &str, number: u32) -> io::Result<Vec<u8>> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::other("no such upload"))?;
        tokio::fs::read(dir.join(number.to_string())).await
    }

    /// Removes upload `id` and its parts; `false` if there was none.
    pub async fn end_upload(&self, id: &str) -> io::Result<bool> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(false);
        };
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every multipart upload in progress: (id, meta), by key then id.
    pub async fn uploads(&self) -> io::Result<Vec<(String, UploadMeta)>> {
        let mut found = Vec::new();
        let mut entries = tokio::fs::read_dir(self.dir.join("multipart")).await?;
        while let Some(entry) = entries.next_entry().await? {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(meta) = self.upload(&id).await? {
                found.push((id, meta));
            }
        }
        found.sort_by(|a, b| (&a.1.key, &a.0).cmp(&(&b.1.key, &b.0)));
        Ok(found)
    }
}

async fn remove(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", hex(&random_bytes::<6>())));
    path.with_file_name(name)
}

fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temporary_beside(path);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

async fn write_atomically_async(path: &Path, data: Vec<u8>) -> io::Result<()> {
    let tmp = temporary_beside(path);
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::rename(&tmp, path).await
}
