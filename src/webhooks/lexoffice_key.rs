//! lexoffice's published webhook key, built in as [`LEXOFFICE_PUBLIC_KEY_PEM`].
//!
//! Where it comes from: lexoffice (Lexware Office) publishes one RSA-4096 key for its
//! webhook signatures at <https://developers.lexware.io/webhookSignature/public/public_key.pub>
//! (formerly under developers.lexoffice.io). This machine has no access to that address, so
//! the key was taken from two independent public copies that agree byte for byte: a
//! webhook receiver that downloads it from lexoffice's address and keeps the file in its
//! repository, and the callback example of the PHP client Baebeca-Solutions/lexware-php-api.
//! Check it once against lexoffice's address before relying on it:
//!
//! ```sh
//! curl -s https://developers.lexware.io/webhookSignature/public/public_key.pub \
//!   | openssl pkey -pubin -outform DER | sha256sum   # must print LEXOFFICE_PUBLIC_KEY_SHA256
//! ```
//!
//! lexoffice documents no key rotation and no key id; if it ever changes its key, pass the
//! new one to [`LexofficeVerifier::new`](super::LexofficeVerifier::new) until a release
//! carries it.

/// lexoffice's webhook signature key (SPKI PEM, RSA-4096), the key
/// [`LexofficeVerifier::production`](super::LexofficeVerifier::production) uses.
pub const LEXOFFICE_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAtCkZXZqT2zFRmA83KsBC\n\
tQSv9t+AaWiZpRWvzE4wiQEh0aHzNYkT/DlP419pngqoLxnqW9SsgWfKOG3utoEV\n\
z+Lru9odZntW/n/yaRK3f0AcMtuWs/Z1PZ4BbN/RlFYyqlPg0VfuAvZMAa+J9WAl\n\
Fuy0T4Y0EdO0d+EL8BpzSLqj3XLI+YuK4hUhlTOxHmdDtNUkugnT9b9khb+oPDmB\n\
3yxRP6Rmo2qo6waSc+pihCdOiZKzwA4fA1HT8DM54OaNQ4qd9NRf5uECijFlpQu6\n\
vZdW7Z+LZ8HTgGQVSsJdCzUtM1wiWOERrHvd8IpBMvUAvGM/qaJnAmwsEr4J/El4\n\
yCmur8wwYBtSUH0Xue42YysdmSS0pOMMUAAvr70HQMDHagYkErMtu6FAyAmPz8p/\n\
tAqJJpwAhxITbnc5WsmZOu0Ke255nXQ/2Go1TKv+45mSb7RLsvpmhVZ4nFByFt24\n\
vG6IwNReuLhJJL468jrdTpxyZRn0QqkxiQV7jDd9Dp1NVd/W3+n86Aos9LnJa+ut\n\
kN+jOOWmJdJjnQetJlbDVg3ex+XHVmCjiRYggCGPlpXVJwdEUNGzxhPGKjxmeiQT\n\
ahwFA9iHtwBw7yK5VfM/hA+JeF2FXYhTdehfClAQt1YCYXkgUEFxm9idRdBoCY6U\n\
bmFUXQLdi7tZyDor8Rxoq2MCAwEAAQ==\n\
-----END PUBLIC KEY-----\n";

/// The SHA-256 of [`LEXOFFICE_PUBLIC_KEY_PEM`]'s DER form (SubjectPublicKeyInfo), in hex:
/// its fingerprint, to compare with the key lexoffice serves.
pub const LEXOFFICE_PUBLIC_KEY_SHA256: &str =
    "6a42debdf6c613137f8da76b231711c93c3b4fc2dc0e7a2998e08c7f479f80b1";
