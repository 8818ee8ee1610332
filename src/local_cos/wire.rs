//! Header names spelt as COS spells them. hyper writes every response
//! header name lower-cased, which HTTP allows; but cos-python-sdk-v5 copies
//! an answer's headers into a plain `dict` and reads `ETag` from it (after
//! each `upload_part`, so its multipart uploads fail on `etag`). The local
//! COS's connections therefore respell the names in each response head as
//! COS writes them: `ETag`, `Content-Length`, … and `x-cos-*` as they are.
//! The rewrite is in place (same length) and touches only a write that
//! starts a response head, up to its blank line.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use poem::{
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An acceptor whose connections respell response header names.
#[derive(Debug)]
pub struct CosSpelling<A>(pub A);

impl<A: Acceptor> Acceptor for CosSpelling<A> {
    type Io = Respelt<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        Ok((Respelt(io), local, remote, scheme))
    }
}

/// A connection whose response heads are respelt.
#[derive(Debug)]
pub struct Respelt<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for Respelt<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Respelt<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.starts_with(b"HTTP/1.") {
            let spelt = respell(buf);
            Pin::new(&mut self.0).poll_write(cx, &spelt)
        } else {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
    }

    /// Not vectored, so hyper writes each head in one buffer.
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `buf` with the header names of its head respelt.
fn respell(buf: &[u8]) -> Vec<u8> {
    let mut out = buf.to_vec();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let mut at = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(end, |p| p + 2);
    while at < end {
        let line_end = buf[at..end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(end, |p| at + p);
        if let Some(colon) = buf[at..line_end].iter().position(|&b| b == b':') {
            spell(&mut out[at..at + colon]);
        }
        at = line_end + 2;
    }
    out
}

/// One name, as COS writes it.
fn spell(name: &mut [u8]) {
    if name.eq_ignore_ascii_case(b"etag") {
        name.copy_from_slice(b"ETag");
    } else if !name.starts_with(b"x-cos-") && !name.starts_with(b"x-ci-") {
        let mut upper = true;
        for b in name.iter_mut() {
            if upper {
                b.make_ascii_uppercase();
            }
            upper = *b == b'-';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_head_are_spelt_as_cos_spells_them_and_nothing_else_changes() {
        let head = b"HTTP/1.1 200 OK\r\netag: \"abc\"\r\ncontent-length: 0\r\nx-cos-request-id: r\r\naccess-control-allow-origin: *\r\n\r\netag: body";
        let spelt = respell(head);
        assert_eq!(
            String::from_utf8(spelt).unwrap(),
            "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 0\r\nx-cos-request-id: r\r\nAccess-Control-Allow-Origin: *\r\n\r\netag: body"
        );
    }
}
