//! `Inbound`: the client's frames, decoded from the request body. It ends when the client's side ends
//! or when the socket writer is gone (a connection that failed on write may never report on read).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_http::Payload;
use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use bytes::BytesMut;
use bytestring::ByteString;
use futures_util::Stream;
use tokio_util::codec::Decoder;

use crate::outbox::Outbox;

pub struct Inbound {
    payload: Payload,
    buf: BytesMut,
    codec: Codec,
    outbox: Arc<Outbox>,
    done: bool,
}

impl Inbound {
    /// Decodes `payload`, refusing frames larger than `max_frame` bytes.
    pub fn new(payload: Payload, outbox: Arc<Outbox>, max_frame: usize) -> Inbound {
        Inbound { payload, buf: BytesMut::new(), codec: Codec::new().max_size(max_frame), outbox, done: false }
    }
}

impl Stream for Inbound {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.codec.decode(&mut this.buf) {
                Ok(Some(frame)) => {
                    let message = match frame {
                        Frame::Text(bytes) => match ByteString::try_from(bytes) {
                            Ok(text) => Message::Text(text),
                            Err(e) => {
                                this.done = true;
                                return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::new(
                                    std::io::ErrorKind::InvalidData,
                                    e,
                                )))));
                            }
                        },
                        Frame::Binary(bytes) => Message::Binary(bytes),
                        Frame::Ping(bytes) => Message::Ping(bytes),
                        Frame::Pong(bytes) => Message::Pong(bytes),
                        Frame::Close(reason) => Message::Close(reason),
                        Frame::Continuation(item) => Message::Continuation(item),
                    };
                    if this.buf.is_empty() {
                        // Nothing partial left: hold no read buffer while idle.
                        this.buf = BytesMut::new();
                    }
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(None) => {}
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    if this.buf.is_empty() {
                        this.buf = BytesMut::from(bytes);
                    } else {
                        this.buf.extend_from_slice(&bytes);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::other(e)))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.outbox.poll_gone(cx) {
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
