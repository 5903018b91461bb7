//! A response's body: whole, or made a piece at a time while it is sent, so that an answer of
//! any size (an export) takes the memory of one piece, not of the answer.
//!
//! A shell sends the pieces as they come, without a `Content-Length` (HTTP/1.1 chunked). A
//! piece that fails ends the answer without its proper end (the shell aborts the body), so that
//! a client reports a broken transfer instead of taking a truncated file for a whole one: the
//! status line, already sent, said 200. (An HTTP/1.0 client, or a proxy speaking HTTP/1.0 to
//! levee, has no chunked encoding: its body ends when the connection closes, so it cannot tell
//! an abort from the end.)

/// The pieces of a body made as it is sent: each a run of bytes, or why the rest cannot be made.
pub type Pieces = Box<dyn Iterator<Item = Result<Vec<u8>, String>> + Send>;

/// What a response carries.
pub enum Body {
    /// Every byte, made before the answer is sent.
    Whole(Vec<u8>),
    /// Made a piece at a time while it is sent.
    Pieces(Pieces),
}

impl Body {
    /// Every byte of the body, making the pieces now: for callers that want the answer whole,
    /// such as tests. Fails as a piece fails.
    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self {
            Body::Whole(bytes) => Ok(bytes),
            Body::Pieces(pieces) => {
                let mut bytes = Vec::new();
                for piece in pieces {
                    bytes.extend_from_slice(&piece?);
                }
                Ok(bytes)
            }
        }
    }

    /// The bytes, where the body is whole.
    pub fn as_whole(&self) -> Option<&[u8]> {
        match self {
            Body::Whole(bytes) => Some(bytes),
            Body::Pieces(_) => None,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::Whole(bytes)
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Whole(bytes) => write!(formatter, "Body::Whole({} bytes)", bytes.len()),
            Body::Pieces(_) => formatter.write_str("Body::Pieces(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_into_the_whole_body_and_a_failed_piece_fails_it() {
        let pieces: Pieces = Box::new(vec![Ok(b"ab".to_vec()), Ok(b"c".to_vec())].into_iter());
        assert_eq!(Body::Pieces(pieces).into_bytes().as_deref(), Ok(&b"abc"[..]));
        let broken: Pieces = Box::new(vec![Ok(b"ab".to_vec()), Err("the store went away".to_owned())].into_iter());
        assert_eq!(Body::Pieces(broken).into_bytes(), Err("the store went away".to_owned()));
        assert_eq!(Body::from(b"x".to_vec()).as_whole(), Some(&b"x"[..]));
    }
}
