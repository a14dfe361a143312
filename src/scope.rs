//! Typed scopes: lexoffice's Partner API scopes, the OpenID Connect ones, and presets.
//!
//! ```
//! use lexoffice_login::{Scope, ScopePreset, Scopes};
//!
//! let scopes: Scopes = "openid contacts.read".parse()?;
//! assert!(scopes.contains(&Scope::ContactsRead));
//! assert_eq!(scopes.to_string(), "openid contacts.read");
//!
//! // Presets name what an integration needs:
//! let invoicing = ScopePreset::Invoicing.scopes();
//! assert!(invoicing.contains(&Scope::VouchersWrite));
//! # Ok::<(), lexoffice_login::ScopeError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One OAuth scope. Known scopes have a variant; anything else is [`Scope::Custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scope {
    /// `openid`: log in with OpenID Connect; the provider returns an ID token.
    OpenId,
    /// `profile`: the user's name and profile claims (OpenID Connect).
    Profile,
    /// `email`: the user's e-mail address (OpenID Connect).
    Email,
    /// `offline_access`: a refresh token, so the login outlives the access token.
    OfflineAccess,
    /// `profile.read` (lexoffice): read the organisation's profile (`GET /v1/profile`).
    ProfileRead,
    /// `contacts.read` (lexoffice): read contacts.
    ContactsRead,
    /// `contacts.write` (lexoffice): create and change contacts.
    ContactsWrite,
    /// `vouchers.read` (lexoffice): read vouchers, invoices and other documents.
    VouchersRead,
    /// `vouchers.write` (lexoffice): create vouchers, invoices and other documents.
    VouchersWrite,
    /// `files.read` (lexoffice): download files (receipts, rendered documents).
    FilesRead,
    /// `files.write` (lexoffice): upload files.
    FilesWrite,
    /// `transaction-assignment-hint.write` (lexoffice): hint which voucher a bank
    /// transaction belongs to.
    TransactionAssignmentHintWrite,
    /// `articles.read` (lexoffice): read articles (seen in one integration only).
    ArticlesRead,
    /// Any other scope, passed through as written.
    Custom(String),
}

/// A scope string that is not a valid scope token (RFC 6749 3.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid scope: a scope is one word of printable ASCII without spaces, quotes or backslashes (RFC 6749 3.3)")]
pub struct ScopeError(pub String);

const KNOWN: &[(&str, Scope)] = &[
    ("openid", Scope::OpenId),
    ("profile", Scope::Profile),
    ("email", Scope::Email),
    ("offline_access", Scope::OfflineAccess),
    ("profile.read", Scope::ProfileRead),
    ("contacts.read", Scope::ContactsRead),
    ("contacts.write", Scope::ContactsWrite),
    ("vouchers.read", Scope::VouchersRead),
    ("vouchers.write", Scope::VouchersWrite),
    ("files.read", Scope::FilesRead),
    ("files.write", Scope::FilesWrite),
    (
        "transaction-assignment-hint.write",
        Scope::TransactionAssignmentHintWrite,
    ),
    ("articles.read", Scope::ArticlesRead),
];

impl Scope {
    /// The scope as it is sent to the provider.
    pub fn as_str(&self) -> &str {
        if let Scope::Custom(s) = self {
            return s;
        }
        KNOWN
            .iter()
            .find(|(_, scope)| scope == self)
            .map(|(name, _)| *name)
            .unwrap_or_default()
    }

    /// The names of the lexoffice Partner API scopes known to this crate.
    pub fn lexoffice_names() -> impl Iterator<Item = &'static str> {
        KNOWN
            .iter()
            .filter(|(_, s)| s.is_lexoffice())
            .map(|(name, _)| *name)
    }

    /// All lexoffice Partner API scopes known to this crate.
    pub fn lexoffice_all() -> Vec<Scope> {
        KNOWN
            .iter()
            .map(|(_, s)| s.clone())
            .filter(Scope::is_lexoffice)
            .collect()
    }

    /// Whether this is one of lexoffice's own scopes (not an OpenID Connect one).
    pub fn is_lexoffice(&self) -> bool {
        !matches!(
            self,
            Scope::OpenId | Scope::Profile | Scope::Email | Scope::OfflineAccess | Scope::Custom(_)
        )
    }
}

/// RFC 6749 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !is_valid_scope_token(s) {
            return Err(ScopeError(s.to_owned()));
        }
        Ok(KNOWN
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, scope)| scope.clone())
            .unwrap_or_else(|| Scope::Custom(s.to_owned())))
    }
}

impl TryFrom<&str> for Scope {
    type Error = ScopeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ordered set of scopes, sent space-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// No scopes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scope unless it is already there.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// Adds every scope of `other` that is not already there.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Scope>) {
        for s in other {
            self.insert(s);
        }
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether `openid` is requested, so an ID token is expected.
    pub fn is_openid(&self) -> bool {
        self.contains(&Scope::OpenId)
    }

    /// The scopes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many scopes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut s = Scopes::new();
        s.extend(iter);
        s
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromStr for Scopes {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split_ascii_whitespace().map(Scope::from_str).collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Named scope sets for common lexoffice integrations.
///
/// Every preset includes `profile.read`, so the integration can tell which organisation
/// it is connected to. Combine a preset with `openid` where the provider speaks OpenID
/// Connect (lexoffice's Partner API, as far as public sources show, does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopePreset {
    /// `openid profile email offline_access`: sign the user in and keep the login.
    SignIn,
    /// Read-only bookkeeping: `profile.read contacts.read vouchers.read files.read`.
    /// Grants reading the organisation, contacts, vouchers and their files; writes nothing.
    ReadOnlyBookkeeping,
    /// Invoicing: `profile.read contacts.read contacts.write vouchers.read vouchers.write
    /// files.read`. Grants creating customers and invoices and downloading their PDFs.
    Invoicing,
    /// Everything this crate knows of lexoffice: every lexoffice scope, including file
    /// uploads and transaction assignment hints.
    FullAccess,
}

impl ScopePreset {
    /// Every preset, for listing in help texts.
    pub const ALL: [ScopePreset; 4] = [
        ScopePreset::SignIn,
        ScopePreset::ReadOnlyBookkeeping,
        ScopePreset::Invoicing,
        ScopePreset::FullAccess,
    ];

    /// The preset's name in configuration (`scope_preset = "invoicing"`).
    pub fn name(self) -> &'static str {
        match self {
            ScopePreset::SignIn => "sign-in",
            ScopePreset::ReadOnlyBookkeeping => "read-only-bookkeeping",
            ScopePreset::Invoicing => "invoicing",
            ScopePreset::FullAccess => "full-access",
        }
    }

    /// The scopes the preset grants.
    pub fn scopes(self) -> Scopes {
        use Scope::*;
        match self {
            ScopePreset::SignIn => [OpenId, Profile, Email, OfflineAccess]
                .into_iter()
                .collect(),
            ScopePreset::ReadOnlyBookkeeping => {
                [ProfileRead, ContactsRead, VouchersRead, FilesRead]
                    .into_iter()
                    .collect()
            }
            ScopePreset::Invoicing => [
                ProfileRead,
                ContactsRead,
                ContactsWrite,
                VouchersRead,
                VouchersWrite,
                FilesRead,
            ]
            .into_iter()
            .collect(),
            ScopePreset::FullAccess => Scope::lexoffice_all().into_iter().collect(),
        }
    }
}

/// A preset name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope preset {0:?}; the presets are sign-in, read-only-bookkeeping, invoicing, full-access")]
pub struct UnknownScopePreset(pub String);

impl FromStr for ScopePreset {
    type Err = UnknownScopePreset;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScopePreset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownScopePreset(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_scope_round_trips() {
        for (name, scope) in KNOWN {
            assert_eq!(scope.as_str(), *name);
            assert_eq!(name.parse::<Scope>().ok().as_ref(), Some(scope));
            assert_eq!(scope.to_string(), *name);
        }
    }

    #[test]
    fn unknown_scopes_are_custom_and_round_trip() {
        let s: Scope = "datev:accounting:clients".parse().unwrap();
        assert_eq!(s, Scope::Custom("datev:accounting:clients".into()));
        assert_eq!(s.to_string(), "datev:accounting:clients");
    }

    #[test]
    fn invalid_scope_tokens_are_refused() {
        for bad in ["", "a b", "quo\"te", "back\\slash", "umlaut-ä"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn scopes_dedupe_and_keep_order() {
        let s: Scopes = "openid profile.read openid  contacts.read".parse().unwrap();
        assert_eq!(s.to_string(), "openid profile.read contacts.read");
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn presets_round_trip_by_name_and_include_profile_read() {
        for p in ScopePreset::ALL {
            assert_eq!(p.name().parse::<ScopePreset>(), Ok(p));
            if p != ScopePreset::SignIn {
                assert!(p.scopes().contains(&Scope::ProfileRead), "{p:?}");
            }
        }
        assert!(!ScopePreset::ReadOnlyBookkeeping
            .scopes()
            .iter()
            .any(|s| s.as_str().ends_with(".write")));
        assert_eq!(ScopePreset::FullAccess.scopes().len(), 9);
        assert!("everything".parse::<ScopePreset>().is_err());
    }

    #[test]
    fn scopes_serialize_as_one_string() {
        let s: Scopes = "openid email".parse().unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"openid email\"");
        let back: Scopes = serde_json::from_str("\"openid email\"").unwrap();
        assert_eq!(back, s);
    }
}
