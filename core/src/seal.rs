//! Sealing: the encoded headshot is encrypted to the caller's recipients (the age format) before
//! it leaves the engine, so the host never holds the plaintext image. Opening is for display in
//! the same process, into a wiped buffer.

use crate::error::{Error, Result};
use crate::privacy::secure_buffer::SecureBuf;
use age::secrecy::SecretString;
use serde::Serialize;
use std::io::{Read, Write};
use zeroize::Zeroizing;

/// A passphrase that is wiped when dropped and never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(s: impl Into<String>) -> Self {
        Passphrase(Zeroizing::new(s.into()))
    }
    fn secret(&self) -> SecretString {
        SecretString::from(self.0.as_str().to_owned())
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(***)")
    }
}

/// Whom the output is sealed to.
#[derive(Clone, Debug)]
pub enum Seal {
    /// age X25519 recipients (`age1…`), one or more.
    Recipients(Vec<String>),
    /// age's scrypt passphrase mode.
    Passphrase(Passphrase),
}

/// What the receipt says about sealing: the method and how many recipients, never who.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SealInfo {
    pub format: &'static str,
    pub method: &'static str,
    pub recipients: usize,
}

impl Seal {
    /// Parses the recipients now, so a bad one is an options error before any pixel is touched.
    pub fn validate(&self) -> Result<()> {
        self.recipients().map(|_| ())
    }

    fn recipients(&self) -> Result<Vec<Box<dyn age::Recipient + Send>>> {
        match self {
            Seal::Recipients(list) => {
                if list.is_empty() {
                    return Err(Error::InvalidOptions("seal_to needs at least one age recipient (age1…)".into()));
                }
                list.iter()
                    .map(|r| {
                        r.trim()
                            .parse::<age::x25519::Recipient>()
                            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
                            .map_err(|e| Error::InvalidOptions(format!("`{}` is not an age X25519 recipient (age1…): {e}", short(r))))
                    })
                    .collect()
            }
            Seal::Passphrase(p) => {
                if p.0.is_empty() {
                    return Err(Error::InvalidOptions("the seal passphrase is empty".into()));
                }
                Ok(vec![Box::new(age::scrypt::Recipient::new(p.secret()))])
            }
        }
    }

    pub fn info(&self) -> SealInfo {
        match self {
            Seal::Recipients(l) => SealInfo { format: "age-encryption.org/v1", method: "x25519", recipients: l.len() },
            Seal::Passphrase(_) => SealInfo { format: "age-encryption.org/v1", method: "scrypt", recipients: 1 },
        }
    }
}

/// Encrypts `plain` to the seal's recipients; returns the age file's bytes.
pub fn seal(plain: &[u8], how: &Seal) -> Result<Vec<u8>> {
    let recipients = how.recipients()?;
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .map_err(|e| Error::Seal(format!("cannot seal: {e}")))?;
    let mut out = Vec::with_capacity(plain.len() + 512);
    let io = |e: std::io::Error| Error::Seal(format!("cannot seal: {e}"));
    let mut w = enc.wrap_output(&mut out).map_err(io)?;
    w.write_all(plain).map_err(io)?;
    w.finish().map_err(io)?;
    Ok(out)
}

/// The key that opens a sealed result.
#[derive(Clone, Debug)]
pub enum OpenWith {
    /// An age X25519 identity (`AGE-SECRET-KEY-1…`); a whole identity file's text also works.
    Identity(Passphrase),
    Passphrase(Passphrase),
}

/// Decrypts a sealed result for display in this process. The plaintext lives in a wiped buffer,
/// and the decryptor's own scratch memory is wiped as it is freed (with [`crate::WipeOnFree`]
/// installed).
pub fn open(sealed: &[u8], with: &OpenWith) -> Result<SecureBuf<u8>> {
    let dec = age::Decryptor::new(sealed).map_err(|e| Error::Seal(format!("not a readable age file: {e}")))?;
    let mut reader = match with {
        OpenWith::Identity(text) => {
            let ids: Vec<age::x25519::Identity> = text
                .0
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.parse::<age::x25519::Identity>().map_err(|_| Error::InvalidOptions("the identity is not an age X25519 secret key (AGE-SECRET-KEY-1…)".into())))
                .collect::<Result<_>>()?;
            if ids.is_empty() {
                return Err(Error::InvalidOptions("no age identity given".into()));
            }
            dec.decrypt(ids.iter().map(|i| i as &dyn age::Identity))
        }
        OpenWith::Passphrase(p) => {
            let id = age::scrypt::Identity::new(p.secret());
            dec.decrypt(std::iter::once(&id as &dyn age::Identity))
        }
    }
    .map_err(|e| Error::Seal(format!("cannot open the sealed result: {e}")))?;
    // The plaintext is never longer than the ciphertext: no reallocation leaves copies behind.
    let mut plain = Vec::with_capacity(sealed.len());
    let read = reader.read_to_end(&mut plain);
    let plain = SecureBuf::from_vec(plain);
    read.map_err(|e| Error::Seal(format!("the sealed result is corrupted: {e}")))?;
    Ok(plain)
}

fn short(s: &str) -> String {
    s.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn keypair() -> (String, String) {
        let id = age::x25519::Identity::generate();
        (id.to_public().to_string(), id.to_string().expose_secret().to_string())
    }

    #[test]
    fn round_trip_to_several_recipients() {
        let ((r1, k1), (r2, k2), (_, k3)) = (keypair(), keypair(), keypair());
        let plain = b"\xFF\xD8\xFF\xE0 a headshot".repeat(1000);
        let s = Seal::Recipients(vec![r1, r2]);
        let sealed = seal(&plain, &s).unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1"));
        assert!(!sealed.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]));
        for k in [k1, k2] {
            assert_eq!(&open(&sealed, &OpenWith::Identity(Passphrase::new(k))).unwrap()[..], &plain[..]);
        }
        let e = open(&sealed, &OpenWith::Identity(Passphrase::new(k3))).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Seal, "{e}");
        let mut bad = sealed.clone();
        let n = bad.len();
        bad[n - 10] ^= 1;
        let e = open(&bad, &OpenWith::Identity(Passphrase::new(keypair().1))).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Seal);
        assert_eq!(open(b"not age", &OpenWith::Passphrase(Passphrase::new("x"))).unwrap_err().kind(), crate::ErrorKind::Seal);
        assert_eq!(open(&sealed, &OpenWith::Identity(Passphrase::new("nonsense"))).unwrap_err().kind(), crate::ErrorKind::InvalidOptions);
    }

    #[test]
    fn bad_recipients_are_option_errors() {
        for r in [vec![], vec!["age1nope".to_string()], vec!["ssh-ed25519 AAAA".to_string()]] {
            assert_eq!(Seal::Recipients(r).validate().unwrap_err().kind(), crate::ErrorKind::InvalidOptions);
        }
        assert_eq!(Seal::Passphrase(Passphrase::new("")).validate().unwrap_err().kind(), crate::ErrorKind::InvalidOptions);
        assert_eq!(format!("{:?}", Passphrase::new("secret")), "Passphrase(***)");
    }
}
