//! Opaque refresh tokens: handle, generation and a 256-bit secret, sealed
//! with an HMAC so that only tokens this server issued are ever considered.
//!
//! Wire form: `skr_` followed by 127 characters of unpadded base64url over
//! 95 bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version (1) |
//! | 4 | refresh key id, big endian |
//! | 18 | session handle (128 random bits, 16-bit placement tag) |
//! | 8 | generation, big endian |
//! | 32 | secret |
//! | 32 | HMAC-SHA256 over the 63 bytes above, with the key's MAC subkey |
//!
//! Nothing in it is personal or a time (SEC-02): the handle is random (its
//! tag is a store's placement, never the user id) and
//! the generation is a counter.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{ConfigError, Rejection};
use crate::random;
use crate::record::{RotationNonce, SessionHandle, TokenHash};

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "skr_";
const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 4 + SessionHandle::LEN + 8 + 32;
const RAW_LEN: usize = BODY_LEN + 32;
const ENCODED_LEN: usize = PREFIX.len() + (RAW_LEN * 4).div_ceil(3);
const MIN_KEY_LEN: usize = 32;

/// A refresh token, as sent to the client. Its text is only reachable
/// through [`RefreshToken::expose`].
#[derive(Clone, Eq, PartialEq)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// The token text, to be sent to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the token, returning its text (which is then yours to
    /// wipe).
    pub fn into_string(mut self) -> String {
        std::mem::take(&mut *self.0)
    }

    /// A token with arbitrary text, for unit tests of code that only
    /// carries tokens around.
    #[cfg(test)]
    pub(crate) fn from_string(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

/// The text is wiped when the token is dropped (SEC-49): it is kept in a
/// [`Zeroizing`] string.
impl ZeroizeOnDrop for RefreshToken {}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken").finish_non_exhaustive()
    }
}

/// A server key that seals refresh tokens and derives their successors.
///
/// Keep retired refresh keys configured (with
/// [`retired_refresh_key`](crate::SessionManagerBuilder::retired_refresh_key))
/// for the absolute session lifetime, or their sessions can no longer
/// refresh.
#[derive(Clone)]
pub struct RefreshKey {
    id: u32,
    mac: HmacSha256,
    derive: HmacSha256,
}

impl RefreshKey {
    /// A refresh key from a secret of at least 32 bytes.
    ///
    /// # Errors
    /// [`ConfigError::KeyTooShort`] under 32 bytes.
    pub fn new(id: u32, secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(ConfigError::KeyTooShort {
                min: MIN_KEY_LEN,
                actual: secret.len(),
            });
        }
        // Two subkeys, so that a MAC can never be confused with a derived
        // secret.
        let subkey = |label: &[u8]| -> Result<HmacSha256, ConfigError> {
            let mut m = HmacSha256::new_from_slice(secret).map_err(|_| ConfigError::InvalidKey)?;
            m.update(label);
            let mut sub: [u8; 32] = m.finalize().into_bytes().into();
            let key = HmacSha256::new_from_slice(&sub).map_err(|_| ConfigError::InvalidKey);
            sub.zeroize();
            key
        };
        Ok(Self {
            id,
            mac: subkey(b"sessionkit refresh mac v1")?,
            derive: subkey(b"sessionkit refresh derive v1")?,
        })
    }

    /// A new random refresh key (256 bits from the operating system).
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] if the random number generator fails.
    pub fn generate(id: u32) -> Result<Self, ConfigError> {
        let mut secret = [0u8; 32];
        random::fill(&mut secret).map_err(|_| ConfigError::InvalidKey)?;
        let key = Self::new(id, &secret);
        secret.zeroize();
        key
    }

    /// The key id carried in every token it seals.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(body);
        m.finalize().into_bytes().into()
    }
}

/// Both HMAC states are wiped when the key is dropped: the hash cores
/// under them zeroize themselves (the `zeroize` features of `hmac` and
/// `sha2`), and the key bytes themselves are never kept.
impl ZeroizeOnDrop for RefreshKey {}

impl fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The active refresh key and the retired ones that still open tokens.
#[derive(Clone, Debug)]
pub(crate) struct RefreshKeys {
    active: RefreshKey,
    retired: Vec<RefreshKey>,
}

impl RefreshKeys {
    pub(crate) fn new(active: RefreshKey, retired: Vec<RefreshKey>) -> Result<Self, ConfigError> {
        let mut ids: Vec<u32> = retired.iter().map(RefreshKey::id).collect();
        ids.push(active.id);
        ids.sort_unstable();
        if ids.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(ConfigError::DuplicateKeyId);
        }
        Ok(Self { active, retired })
    }

    fn find(&self, id: u32) -> Option<&RefreshKey> {
        std::iter::once(&self.active)
            .chain(&self.retired)
            .find(|k| k.id == id)
    }

    /// Seals a token for `secret` with the active key.
    pub(crate) fn seal(
        &self,
        handle: &SessionHandle,
        generation: u64,
        secret: &RefreshSecret,
    ) -> RefreshToken {
        // Holds the secret: wiped when done.
        let mut raw = Zeroizing::new([0u8; RAW_LEN]);
        let (body, tag) = raw.split_at_mut(BODY_LEN);
        let mut w = Writer(body);
        w.put(&[VERSION]);
        w.put(&self.active.id.to_be_bytes());
        w.put(handle.as_bytes());
        w.put(&generation.to_be_bytes());
        w.put(&secret.0);
        tag.copy_from_slice(&self.active.tag(body));
        let mut text = String::with_capacity(ENCODED_LEN);
        text.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(raw.as_slice(), &mut text);
        RefreshToken(Zeroizing::new(text))
    }

    /// Opens a token: format, key id and MAC (SEC-19). Nothing else is
    /// looked at, and no store is involved.
    pub(crate) fn open(&self, token: &str, max_len: usize) -> Result<Presented, Rejection> {
        if token.len() > max_len {
            return Err(Rejection::TooLong);
        }
        let encoded = token.strip_prefix(PREFIX).ok_or(Rejection::Malformed)?;
        if token.len() != ENCODED_LEN {
            return Err(Rejection::Malformed);
        }
        // Holds the secret: wiped on every way out.
        let mut raw = Zeroizing::new([0u8; RAW_LEN + 2]);
        let n = URL_SAFE_NO_PAD
            .decode_slice(encoded, &mut *raw)
            .map_err(|_| Rejection::Malformed)?;
        if n != RAW_LEN {
            return Err(Rejection::Malformed);
        }
        let mut r = Reader(raw.get(..RAW_LEN).ok_or(Rejection::Malformed)?);
        let version = r.take::<1>()?;
        if version != [VERSION] {
            return Err(Rejection::Malformed);
        }
        let key_id = u32::from_be_bytes(r.take()?);
        let handle = SessionHandle::from_bytes(r.take()?);
        let generation = u64::from_be_bytes(r.take()?);
        let secret = RefreshSecret(r.take()?);
        let tag: [u8; 32] = r.take()?;
        let key = self.find(key_id).ok_or(Rejection::UnknownKey)?;
        let mut m = key.mac.clone();
        m.update(raw.get(..BODY_LEN).ok_or(Rejection::Malformed)?);
        m.verify_slice(&tag).map_err(|_| Rejection::Signature)?;
        let hash = secret.hash();
        Ok(Presented {
            key_id,
            handle,
            generation,
            secret,
            hash,
        })
    }

    /// The secret of generation `generation + 1`, derived from the secret of
    /// `generation` with the derivation subkey of the key that sealed it.
    ///
    /// The same inputs always give the same successor: that is what lets a
    /// retry inside the grace window receive the token the first request
    /// received, without the store holding any token.
    pub(crate) fn successor(
        &self,
        presented: &Presented,
        nonce: &RotationNonce,
    ) -> Option<RefreshSecret> {
        let key = self.find(presented.key_id)?;
        let next = presented.generation.checked_add(1)?;
        let mut m = key.derive.clone();
        m.update(presented.handle.as_bytes());
        m.update(&next.to_be_bytes());
        m.update(nonce.as_bytes());
        m.update(&presented.secret.0);
        Some(RefreshSecret(m.finalize().into_bytes().into()))
    }
}

/// A 256-bit refresh secret. Not `Clone`: there is one copy of it, and it
/// is wiped when dropped (SEC-49).
pub(crate) struct RefreshSecret([u8; 32]);

impl Drop for RefreshSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for RefreshSecret {}

impl RefreshSecret {
    /// A fresh secret from the operating system's CSPRNG (SEC-01).
    #[cfg(test)]
    pub(crate) fn generate() -> Result<Self, crate::error::RandomError> {
        let mut s = [0u8; 32];
        random::fill(&mut s)?;
        Ok(Self(s))
    }

    /// A secret from bytes the caller drew from the operating system's
    /// CSPRNG (SEC-01), or fixed bytes for fuzz seeds that must stay valid.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The only form of the secret the store ever sees (SEC-03).
    pub(crate) fn hash(&self) -> TokenHash {
        let mut h = Sha256::new();
        h.update(b"sessionkit refresh secret v1\0");
        h.update(self.0);
        TokenHash::from_bytes(h.finalize().into())
    }
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSecret").finish_non_exhaustive()
    }
}

/// A genuine refresh token, opened. Not `Clone`; its secret is wiped when
/// it is dropped.
pub(crate) struct Presented {
    pub(crate) key_id: u32,
    pub(crate) handle: SessionHandle,
    pub(crate) generation: u64,
    pub(crate) secret: RefreshSecret,
    pub(crate) hash: TokenHash,
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("handle", &self.handle)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let buf = std::mem::take(&mut self.0);
        let (head, tail) = buf.split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        self.0 = tail;
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Rejection> {
        let (head, tail) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(Rejection::Malformed)?;
        self.0 = tail;
        Ok(*head)
    }
}

#[cfg(test)]
mod tests {
    use std::marker::PhantomData;

    use hmac::digest::block_api::{Buffer, CoreProxy};

    use super::*;

    /// `is_clone()` is the inherent method (true) when `T: Clone`, and
    /// falls back to the trait method (false) otherwise.
    struct Probe<T>(PhantomData<T>);

    impl<T: Clone> Probe<T> {
        fn is_clone(&self) -> bool {
            true
        }
    }

    trait NotClone {
        fn is_clone(&self) -> bool {
            false
        }
    }

    impl<T> NotClone for &Probe<T> {}

    fn zeroize_on_drop<T: ZeroizeOnDrop>() {}

    /// SEC-49: every type holding a secret or a token wipes it when
    /// dropped, and the raw secret cannot be copied by `clone`.
    #[test]
    fn sec_49_secrets_and_tokens_are_wiped_on_drop() {
        // These markers are declarations, written beside each type's
        // wiping `Drop` (or its `Zeroizing` field): they keep the promise
        // visible and fail to compile if a type loses it by name.
        zeroize_on_drop::<RefreshSecret>();
        zeroize_on_drop::<RefreshToken>();
        zeroize_on_drop::<RefreshKey>();
        zeroize_on_drop::<crate::AccessToken>();
        zeroize_on_drop::<crate::SigningKey>();
        // A token's text is held in a `Zeroizing` string, which wipes it.
        let token = RefreshToken::from_string("skr_text".to_owned());
        let _: &Zeroizing<String> = &token.0;
        // The keys' HMAC-SHA256 states (and every state cloned from them)
        // are two SHA-256 cores and a block buffer; `Hmac` carries no
        // marker of its own, so the parts are checked: each wipes itself
        // when dropped only with the `zeroize` features of `sha2` and
        // `hmac`, which this crate turns on.
        zeroize_on_drop::<sha2::Sha256>();
        zeroize_on_drop::<<sha2::Sha256 as CoreProxy>::Core>();
        zeroize_on_drop::<Buffer<<HmacSha256 as CoreProxy>::Core>>();
        assert!(!(&Probe::<RefreshSecret>(PhantomData)).is_clone());
        assert!(!(&Probe::<Presented>(PhantomData)).is_clone());
        // The probe does tell: a token may be cloned (to send it twice).
        assert!(Probe::<RefreshToken>(PhantomData).is_clone());
    }

    #[test]
    fn into_string_keeps_the_text() {
        let keys = keys();
        let token = keys.seal(&handle(), 3, &RefreshSecret::from_bytes([5; 32]));
        let text = token.expose().to_owned();
        assert_eq!(token.into_string(), text);
    }

    fn keys() -> RefreshKeys {
        RefreshKeys::new(RefreshKey::new(7, &[1u8; 32]).unwrap(), vec![]).unwrap()
    }

    fn handle() -> SessionHandle {
        SessionHandle::from_bytes([9u8; 18])
    }

    #[test]
    fn seal_open_round_trip() {
        let k = keys();
        let secret = RefreshSecret::generate().unwrap();
        let token = k.seal(&handle(), 42, &secret);
        assert_eq!(token.expose().len(), ENCODED_LEN);
        let p = k.open(token.expose(), 4096).unwrap();
        assert_eq!(p.handle, handle());
        assert_eq!(p.generation, 42);
        assert_eq!(p.key_id, 7);
        assert!(p.hash.ct_eq(&secret.hash()));
    }

    #[test]
    fn sec_19_every_single_byte_change_is_rejected() {
        let k = keys();
        let token = k.seal(&handle(), 1, &RefreshSecret::generate().unwrap());
        let text = token.expose().as_bytes().to_vec();
        for i in 0..text.len() {
            let mut t = text.clone();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let s = String::from_utf8(t).unwrap();
            assert!(k.open(&s, 4096).is_err(), "byte {i} flipped was accepted");
        }
    }

    #[test]
    fn sec_19_token_from_another_key_is_rejected() {
        let other = RefreshKeys::new(RefreshKey::new(7, &[2u8; 32]).unwrap(), vec![]).unwrap();
        let token = other.seal(&handle(), 1, &RefreshSecret::generate().unwrap());
        assert_eq!(
            keys().open(token.expose(), 4096).unwrap_err(),
            Rejection::Signature
        );
    }

    #[test]
    fn unknown_key_id_is_rejected() {
        let other = RefreshKeys::new(RefreshKey::new(8, &[1u8; 32]).unwrap(), vec![]).unwrap();
        let token = other.seal(&handle(), 1, &RefreshSecret::generate().unwrap());
        assert_eq!(
            keys().open(token.expose(), 4096).unwrap_err(),
            Rejection::UnknownKey
        );
    }

    #[test]
    fn retired_key_still_opens() {
        let old = RefreshKey::new(1, &[3u8; 32]).unwrap();
        let sealed_by_old = RefreshKeys::new(old.clone(), vec![]).unwrap();
        let token = sealed_by_old.seal(&handle(), 1, &RefreshSecret::generate().unwrap());
        let rotated = RefreshKeys::new(RefreshKey::new(2, &[4u8; 32]).unwrap(), vec![old]).unwrap();
        assert!(rotated.open(token.expose(), 4096).is_ok());
    }

    #[test]
    fn duplicate_key_ids_are_a_config_error() {
        let a = RefreshKey::new(1, &[3u8; 32]).unwrap();
        let b = RefreshKey::new(1, &[4u8; 32]).unwrap();
        assert!(matches!(
            RefreshKeys::new(a, vec![b]),
            Err(ConfigError::DuplicateKeyId)
        ));
    }

    #[test]
    fn sec_33_short_refresh_key_is_a_config_error() {
        assert!(matches!(
            RefreshKey::new(1, &[0u8; 31]),
            Err(ConfigError::KeyTooShort {
                min: 32,
                actual: 31
            })
        ));
    }

    #[test]
    fn sec_39_oversized_and_malformed_input() {
        let k = keys();
        assert_eq!(
            k.open(&"a".repeat(4097), 4096).unwrap_err(),
            Rejection::TooLong
        );
        for bad in ["", "skr_", "skr_!!!!", "eyJ.a.b", &"skr_".repeat(40)] {
            assert_eq!(
                k.open(bad, 4096).unwrap_err(),
                Rejection::Malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn successor_is_deterministic_and_depends_on_every_input() {
        let k = keys();
        let secret = RefreshSecret::generate().unwrap();
        let token = k.seal(&handle(), 3, &secret);
        let p = k.open(token.expose(), 4096).unwrap();
        let n1 = RotationNonce::from_bytes([5u8; 32]);
        let n2 = RotationNonce::from_bytes([6u8; 32]);
        let a = k.successor(&p, &n1).unwrap();
        let b = k.successor(&p, &n1).unwrap();
        assert!(a.hash().ct_eq(&b.hash()));
        assert!(!a.hash().ct_eq(&k.successor(&p, &n2).unwrap().hash()));
        assert!(!a.hash().ct_eq(&secret.hash()));
    }

    #[test]
    fn sec_02_token_carries_no_readable_user_data() {
        let k = keys();
        let token = k.seal(&handle(), 1, &RefreshSecret::generate().unwrap());
        let raw = URL_SAFE_NO_PAD
            .decode(token.expose().strip_prefix(PREFIX).unwrap())
            .unwrap();
        assert_eq!(raw.len(), RAW_LEN, "fixed layout: no room for user data");
        assert!(token.expose().starts_with(PREFIX));
    }

    #[test]
    fn sec_05_debug_shows_no_secret_material() {
        let k = keys();
        let secret = RefreshSecret::generate().unwrap();
        let token = k.seal(&handle(), 1, &secret);
        let p = k.open(token.expose(), 4096).unwrap();
        let b64 = URL_SAFE_NO_PAD.encode(secret.0);
        for s in [
            format!("{token:?}"),
            format!("{p:?}"),
            format!("{secret:?}"),
            format!("{k:?}"),
        ] {
            assert!(!s.contains(token.expose()) && !s.contains(&b64), "{s}");
        }
    }
}
