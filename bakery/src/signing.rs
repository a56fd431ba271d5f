//! Release signatures: `SHA256SUMS.gpg`, the detached OpenPGP signature systemd-sysupdate checks
//! with `gpg --verify` when a transfer says `Verify=yes`, and the keys that make and check it.
//!
//! Signing and checking are done in Rust with rPGP (`pgp`), pure Rust, no gpg needed on the
//! build machine. The files are what gpg reads: the secret key is an ASCII-armored Transferable
//! Secret Key (`gpg --import` takes it), the public key a binary Transferable Public Key, which
//! is also a keyring file for `gpg --keyring` (systemd's `/etc/systemd/import-pubring.gpg`),
//! and the signature a binary detached signature (type 0x00) over the SHA256SUMS bytes.

use crate::{err, Result};
use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, KeyType, PublicOrSecret,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::SignatureType;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};
use std::path::Path;

/// Where systemd-sysupdate's gpg finds the keys: systemd 257 and older read only
/// `import-pubring.gpg`; 258 and later read `import-pubring.pgp` first and fall back to the
/// `.gpg` name. bake installs the same keyring under both names.
pub const NODE_KEYRINGS: [&str; 2] = [
    "/etc/systemd/import-pubring.gpg",
    "/etc/systemd/import-pubring.pgp",
];

/// Keyring files are small; anything larger is not a key file (and is not read whole).
const MAX_KEY_FILE: u64 = 1 << 20;
/// A detached signature over SHA256SUMS is a few hundred bytes; systemd-pull allows 1 MiB.
pub const MAX_SIGNATURE: usize = 1 << 20;

/// A secret key that can sign, loaded from `--sign-key FILE`.
pub struct Signer {
    key: SignedSecretKey,
    /// None: the primary key signs; Some(i): secret subkey i.
    subkey: Option<usize>,
    origin: String,
}

impl Signer {
    /// Loads a secret key file (armored or binary). Refuses a file without secret key
    /// material, with more than one key, or whose signing key is passphrase-protected.
    pub fn load(path: &Path) -> Result<Signer> {
        let origin = path.display().to_string();
        let bytes = read_key_file(path)?;
        let mut keys = parse_keys(&origin, &bytes)?;
        if keys.len() != 1 {
            return Err(err!(
                "{origin}: holds {} keys; --sign-key wants exactly one secret key",
                keys.len()
            ));
        }
        let key = match keys.remove(0) {
            PublicOrSecret::Secret(key) => key,
            PublicOrSecret::Public(_) => {
                return Err(err!(
                    "{origin}: holds a public key only, no secret part: --sign-key wants the secret key (`bake keygen` writes it as NAME.key)"
                ))
            }
        };
        key.verify_bindings()
            .map_err(|e| err!("{origin}: the key's self-signatures do not verify: {e}"))?;
        let subkey = pick_signing_component(&origin, &key)?;
        let signer = Signer {
            key,
            subkey,
            origin,
        };
        // Prove the key works (and that it is not locked) before anything is built or written.
        signer.sign(b"bake: signing key self-test")?;
        Ok(signer)
    }

    pub fn fingerprint(&self) -> String {
        self.key.fingerprint().to_string()
    }

    /// A binary detached signature over `data`, as `SHA256SUMS.gpg`.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let rng = rand::thread_rng();
        let pw = Password::empty();
        let signature = match self.subkey {
            None => DetachedSignature::sign_binary_data(
                rng,
                &self.key.primary_key,
                &pw,
                HashAlgorithm::Sha256,
                data,
            ),
            Some(i) => DetachedSignature::sign_binary_data(
                rng,
                &self.key.secret_subkeys[i].key,
                &pw,
                HashAlgorithm::Sha256,
                data,
            ),
        }
        .map_err(|e| err!("{}: cannot sign: {e}", self.origin))?;
        let mut out = Vec::new();
        signature
            .to_writer(&mut out)
            .map_err(|e| err!("{}: cannot serialize the signature: {e}", self.origin))?;
        Ok(out)
    }

    /// The public half as a binary keyring (what the nodes install).
    pub fn public_keyring(&self) -> Result<Vec<u8>> {
        let public = self.key.to_public_key();
        let mut out = Vec::new();
        public
            .to_writer(&mut out)
            .map_err(|e| err!("{}: cannot serialize the public key: {e}", self.origin))?;
        Ok(out)
    }
}

/// The component gpg would sign with: the newest signing-capable secret subkey, else the
/// primary key when it may sign. Stubs and passphrase-locked parts are refused clearly.
fn pick_signing_component(origin: &str, key: &SignedSecretKey) -> Result<Option<usize>> {
    let mut best: Option<(usize, u32)> = None;
    for (i, sub) in key.secret_subkeys.iter().enumerate() {
        let can_sign = sub
            .signatures
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyBinding) && s.key_flags().sign());
        let revoked = sub
            .signatures
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
        if can_sign && !revoked {
            let created = sub.key.created_at().as_secs();
            if best.is_none_or(|(_, t)| created >= t) {
                best = Some((i, created));
            }
        }
    }
    let locked = |encrypted: bool, what: &str| {
        if encrypted {
            Err(err!(
                "{origin}: the {what} is passphrase-protected; bake signs unattended: export it without a passphrase (e.g. `gpg --export-secret-keys` after `gpg --passwd` sets an empty one) or make one with `bake keygen`"
            ))
        } else {
            Ok(())
        }
    };
    if let Some((i, _)) = best {
        let sub = &key.secret_subkeys[i];
        locked(sub.key.secret_params().is_encrypted(), "signing subkey")?;
        return Ok(Some(i));
    }
    let flags: Vec<_> = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .map(|s| s.key_flags())
        .collect();
    let primary_signs = flags.is_empty() || flags.iter().any(|f| f.sign());
    if !primary_signs {
        return Err(err!(
            "{origin}: no key in this file may sign (no signing subkey, primary key not flagged for signing)"
        ));
    }
    locked(key.primary_key.secret_params().is_encrypted(), "secret key")?;
    Ok(None)
}

/// Public keys to check release signatures with, from `--pubkey FILE` (one key or a keyring of
/// several, armored or binary). Secret keys are refused: they must not travel to nodes.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    origin: String,
    /// The file as given, when it was binary: what the nodes install.
    binary: Vec<u8>,
}

impl Keyring {
    pub fn load(path: &Path) -> Result<Keyring> {
        let origin = path.display().to_string();
        let bytes = read_key_file(path)?;
        Keyring::parse(&origin, &bytes)
    }

    pub fn parse(origin: &str, bytes: &[u8]) -> Result<Keyring> {
        let mut keys = Vec::new();
        for key in parse_keys(origin, bytes)? {
            match key {
                PublicOrSecret::Public(k) => {
                    k.verify_bindings()
                        .map_err(|e| err!("{origin}: a key's self-signatures do not verify: {e}"))?;
                    keys.push(k);
                }
                PublicOrSecret::Secret(_) => {
                    return Err(err!(
                        "{origin}: holds a secret key; --pubkey wants the public key only (`bake keygen` writes it as NAME.pgp): a secret key must not be copied to nodes"
                    ))
                }
            }
        }
        // Re-serialized binary: a keyring gpg reads with --keyring, whatever the input form.
        let mut binary = Vec::new();
        for k in &keys {
            k.to_writer(&mut binary)
                .map_err(|e| err!("{origin}: cannot serialize the key: {e}"))?;
        }
        Ok(Keyring {
            keys,
            origin: origin.to_string(),
            binary,
        })
    }

    /// The keys as a binary keyring, the form `gpg --keyring` reads (armor is not read there).
    pub fn binary(&self) -> &[u8] {
        &self.binary
    }

    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.fingerprint().to_string())
            .collect()
    }

    /// Checks a detached signature over `data` the way gpg does for systemd-sysupdate: every
    /// signature in `signature` must be a data signature that verifies with a key of this
    /// keyring (a primary key, or a subkey bound to it for signing), none of them revoked.
    /// Returns the fingerprint of the key that made the (first) signature.
    pub fn verify(&self, what: &str, data: &[u8], signature: &[u8]) -> Result<String> {
        if signature.is_empty() {
            return Err(err!("{what}: the signature file is empty"));
        }
        if signature.len() > MAX_SIGNATURE {
            return Err(err!("{what}: the signature file is larger than 1 MiB"));
        }
        let sigs: Vec<DetachedSignature> = DetachedSignature::from_reader_many(signature)
            .map_err(|e| err!("{what}: not an OpenPGP signature: {e}"))?
            .0
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| err!("{what}: not an OpenPGP signature: {e}"))?;
        if sigs.is_empty() {
            return Err(err!("{what}: holds no signature"));
        }
        let mut signer = None;
        for sig in &sigs {
            if !matches!(
                sig.signature.typ(),
                Some(SignatureType::Binary | SignatureType::Text)
            ) {
                return Err(err!("{what}: not a signature over a file"));
            }
            let by = self
                .keys
                .iter()
                .find_map(|cert| verify_with(cert, sig, data));
            match by {
                Some(fp) => {
                    signer.get_or_insert(fp);
                }
                None => {
                    return Err(err!(
                        "{what}: BAD signature: it does not verify against {} (keys {}): the file was changed after signing or signed with another key",
                        self.origin,
                        self.fingerprints().join(", ")
                    ))
                }
            }
        }
        signer.ok_or_else(|| err!("{what}: holds no signature"))
    }
}

/// The fingerprint of the key in `cert` that verifies `sig` over `data`.
fn verify_with(cert: &SignedPublicKey, sig: &DetachedSignature, data: &[u8]) -> Option<String> {
    if !cert.details.revocation_signatures.is_empty() {
        return None;
    }
    if sig.verify(&cert.primary_key, data).is_ok() {
        return Some(cert.primary_key.fingerprint().to_string());
    }
    cert.public_subkeys.iter().find_map(|sub| {
        let bound_for_signing = sub
            .signatures
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyBinding) && s.key_flags().sign());
        let revoked = sub
            .signatures
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
        (bound_for_signing && !revoked && sig.verify(&sub.key, data).is_ok())
            .then(|| sub.key.fingerprint().to_string())
    })
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).map_err(|e| err!("cannot read key {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(err!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(err!(
            "{}: larger than 1 MiB, not a key file",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| err!("cannot read key {}: {e}", path.display()))?;
    if bytes.is_empty() {
        return Err(err!("{}: empty, not an OpenPGP key", path.display()));
    }
    Ok(bytes)
}

fn parse_keys(origin: &str, bytes: &[u8]) -> Result<Vec<PublicOrSecret>> {
    let not_a_key = |e: pgp::errors::Error| err!("{origin}: not an OpenPGP key: {e}");
    let keys: Vec<PublicOrSecret> = PublicOrSecret::from_reader_many(bytes)
        .map_err(not_a_key)?
        .0
        .collect::<std::result::Result<_, _>>()
        .map_err(not_a_key)?;
    if keys.is_empty() {
        return Err(err!("{origin}: holds no OpenPGP key"));
    }
    Ok(keys)
}

/// A new signing key: (armored secret key, binary public key, fingerprint). Ed25519 (v4,
/// "legacy" EdDSA encoding), which gpg 2.1 and later read; no expiry, no passphrase.
pub fn generate(user_id: &str) -> Result<(Vec<u8>, Vec<u8>, String)> {
    let params = SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.to_string())
        .build()
        .map_err(|e| err!("cannot set up key generation: {e}"))?;
    let key = params
        .generate(rand::thread_rng())
        .map_err(|e| err!("cannot generate a key: {e}"))?;
    let secret = key
        .to_armored_bytes(ArmorOptions::default())
        .map_err(|e| err!("cannot serialize the secret key: {e}"))?;
    let mut public = Vec::new();
    key.to_public_key()
        .to_writer(&mut public)
        .map_err(|e| err!("cannot serialize the public key: {e}"))?;
    Ok((secret, public, key.fingerprint().to_string()))
}

/// `bake keygen`: writes (creating DIR, mode 0700, when missing) `DIR/NAME.key` (the secret key, armored, mode 0600) and
/// `DIR/NAME.pgp` (the public key, binary: the nodes' `import-pubring.gpg`). Existing files are
/// never overwritten; on any error neither file is left behind.
pub fn write_key_pair(dir: &Path, name: &str, user_id: &str) -> Result<KeyPairFiles> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(err!("--name {name:?}: a plain file name is expected"));
    }
    if !dir.exists() {
        // A new directory for a secret key: the owner's only.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err!("cannot create {}: {e}", dir.display()))?;
    }
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pgp"));
    for path in [&secret, &public] {
        if path.symlink_metadata().is_ok() {
            return Err(err!(
                "{} exists; not overwriting a key (move it away or pick another --name)",
                path.display()
            ));
        }
    }
    let (secret_bytes, public_bytes, fingerprint) = generate(user_id)?;
    crate::atomic::create_new(&secret, &secret_bytes, 0o600)?;
    if let Err(e) = crate::atomic::create_new(&public, &public_bytes, 0o644) {
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    Ok(KeyPairFiles {
        secret,
        public,
        fingerprint,
    })
}

pub struct KeyPairFiles {
    pub secret: std::path::PathBuf,
    pub public: std::path::PathBuf,
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bake-signing-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn key_pair(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let (secret, public, _) = generate("test <t@example.org>").unwrap();
        let (s, p) = (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pgp")),
        );
        std::fs::write(&s, secret).unwrap();
        std::fs::write(&p, public).unwrap();
        (s, p)
    }

    #[test]
    fn signature_verifies_with_its_public_key_only() {
        let dir = scratch("roundtrip");
        let (secret, public) = key_pair(&dir, "a");
        let (_, other) = key_pair(&dir, "b");
        let signer = Signer::load(&secret).unwrap();
        let keyring = Keyring::load(&public).unwrap();
        assert_eq!(keyring.binary(), std::fs::read(&public).unwrap());
        assert_eq!(signer.public_keyring().unwrap(), keyring.binary());
        let data = b"0000  vipd-1.0.0-x86-64.raw\n";
        let sig = signer.sign(data).unwrap();
        assert_eq!(
            keyring.verify("SUMS.gpg", data, &sig).unwrap(),
            signer.fingerprint()
        );
        let e = keyring.verify("SUMS.gpg", b"0001  x\n", &sig).unwrap_err();
        assert!(e.0.contains("BAD signature"), "{e}");
        let e = Keyring::load(&other)
            .unwrap()
            .verify("SUMS.gpg", data, &sig)
            .unwrap_err();
        assert!(e.0.contains("BAD signature"), "{e}");
        for junk in [&b""[..], b"garbage", &sig[..sig.len() / 2]] {
            assert!(keyring.verify("SUMS.gpg", data, junk).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_key_files_are_refused_with_the_reason() {
        let dir = scratch("refuse");
        let (secret, public) = key_pair(&dir, "a");
        let e = Signer::load(&public).err().unwrap();
        assert!(e.0.contains("no secret part"), "{e}");
        let e = Keyring::load(&secret).err().unwrap();
        assert!(e.0.contains("holds a secret key"), "{e}");
        let e = Signer::load(&dir.join("missing.key")).err().unwrap();
        assert!(e.0.contains("missing.key"), "{e}");
        std::fs::write(dir.join("junk"), "not a key\n").unwrap();
        let e = Keyring::load(&dir.join("junk")).err().unwrap();
        assert!(e.0.contains("not an OpenPGP key"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_passphrase_protected_key_is_refused() {
        let dir = scratch("locked");
        let (secret, _) = key_pair(&dir, "a");
        let (mut key, _) =
            SignedSecretKey::from_armor_single(std::fs::File::open(&secret).unwrap()).unwrap();
        key.primary_key
            .set_password(rand::thread_rng(), &Password::from("pw"))
            .unwrap();
        std::fs::write(
            &secret,
            key.to_armored_bytes(ArmorOptions::default()).unwrap(),
        )
        .unwrap();
        let e = Signer::load(&secret).err().unwrap();
        assert!(e.0.contains("passphrase-protected"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
