//! Looking without downloading: what a tag names now (`HEAD`, through
//! mirrors as a pull would go) and which tags a repository has
//! (`GET /v2/<repo>/tags/list`, paginated).
//!
//! `add` and `outdated` ask these questions before anything is written,
//! so unlike [`RegistryClient::head_manifest`] (an optimisation that may
//! quietly give up) they report why an answer could not be had: a missing
//! tag and an unreachable registry call for different exit codes.
//!
//! A tag list is bounded in pages, in tags and in bytes per page, and only
//! the `last` cursor of a `Link: <…>; rel="next"` header is taken (checked
//! against the tag grammar), so a registry cannot send the client to
//! another host or keep it paging forever.

use std::time::Instant;

use lf_lockfile::{Digest, Reference};
use reqwest::Method;

use super::http::{self, RequestOptions};
use super::{MANIFEST_ACCEPT, RegistryClient, RegistryError, at, manifest_path};

/// Tags asked for per page.
const PAGE_SIZE: usize = 100;

/// The most pages of a tag list read.
pub const MAX_TAG_PAGES: usize = 50;

/// The most tags kept from a tag list.
pub const MAX_TAGS: usize = 5000;

/// The largest tag-list page accepted, in bytes.
const MAX_PAGE_BYTES: u64 = 1024 * 1024;

/// A tag list as read: the tags, and whether the bounds cut it short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList {
    /// The tags, in the order served.
    pub tags: Vec<String>,
    /// Whether more pages (or tags) were left unread.
    pub truncated: bool,
}

#[derive(serde::Deserialize)]
struct TagsWire {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Whether `s` is a tag as the distribution spec allows one.
fn is_tag(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The `last` cursor of a `Link: <…?last=X&n=N>; rel="next"` header.
fn next_cursor(link: &str) -> Option<String> {
    let part = link
        .split(',')
        .find(|p| p.contains("rel=\"next\"") || p.contains("rel=next"))?;
    let target = part.split_once('<')?.1.split_once('>')?.0;
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("last="))
        .map(str::to_owned)
        .filter(|last| is_tag(last))
}

impl RegistryClient {
    /// The digest `reference` names now: `HEAD` on the manifest, mirrors
    /// first; a host that answers without a `Docker-Content-Digest` header
    /// is asked again with `GET` (the manifest is small and hashed here).
    /// A missing tag or repository is [`RegistryError::NotFound`].
    pub async fn resolve_digest(&self, reference: &Reference) -> Result<Digest, RegistryError> {
        let shown = reference.to_string();
        let hosts = self.candidates(reference.registry());
        // The registry itself is asked last and has the last word: a
        // mirror that lacks the tag does not make it missing.
        let mut last_error = None;
        for source in &hosts {
            let host = &source.host;
            let transport = match self.transport(host, reference.registry()) {
                Ok(t) => t,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let options = RequestOptions {
                accept: Some(MANIFEST_ACCEPT),
                range_from: None,
            };
            match transport
                .send(
                    Method::HEAD,
                    &source.repository(reference.repository()),
                    &manifest_path(reference),
                    &options,
                )
                .await
            {
                Ok((response, _permit)) => {
                    if let Some(digest) = response
                        .headers()
                        .get("docker-content-digest")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<Digest>().ok())
                    {
                        return Ok(digest);
                    }
                    return self.fetch_manifest(reference).await.map(|m| m.digest);
                }
                Err(e) => {
                    let e = at(&shown, e);
                    if host != reference.registry() {
                        self.warn(format!(
                            "mirror {host} failed for `{reference}`: {e}; trying the next source"
                        ));
                    }
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RegistryError::Other {
            reference: shown,
            detail: "no registry to ask".to_owned(),
        }))
    }

    /// The tags of `reference`'s repository, from its own registry (a
    /// mirror may lag behind), at most [`MAX_TAG_PAGES`] pages and
    /// [`MAX_TAGS`] tags.
    pub async fn list_tags(&self, reference: &Reference) -> Result<TagList, RegistryError> {
        let shown = reference.name();
        let transport = self.transport(reference.registry(), reference.registry())?;
        let limits = self.limits();
        let mut list = TagList::default();
        let mut cursor: Option<String> = None;
        for page in 0..MAX_TAG_PAGES {
            let path = match &cursor {
                Some(last) => format!("tags/list?n={PAGE_SIZE}&last={last}"),
                None => format!("tags/list?n={PAGE_SIZE}"),
            };
            let options = RequestOptions {
                accept: Some("application/json"),
                range_from: None,
            };
            let (response, _permit) = transport
                .send(Method::GET, reference.repository(), &path, &options)
                .await
                .map_err(|e| at(&shown, e))?;
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_cursor);
            let deadline = Instant::now() + limits.transfer_time(MAX_PAGE_BYTES);
            let body = http::read_body(response, MAX_PAGE_BYTES, deadline)
                .await
                .map_err(|e| RegistryError::Other {
                    reference: shown.clone(),
                    detail: match e {
                        http::BodyError::TooLarge { size } => format!(
                            "a tag-list page of {size} bytes is over the {MAX_PAGE_BYTES}-byte limit"
                        ),
                        http::BodyError::TooSlow { read } => {
                            format!("the tag list was too slow ({read} bytes by the deadline)")
                        }
                        http::BodyError::Broken { reason, .. } => {
                            format!("reading the tag list failed: {reason}")
                        }
                    },
                })?;
            let wire: TagsWire =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Other {
                    reference: shown.clone(),
                    detail: format!("the tag list is not valid JSON: {e}"),
                })?;
            for tag in wire.tags.unwrap_or_default() {
                if list.tags.len() == MAX_TAGS {
                    list.truncated = true;
                    return Ok(list);
                }
                if is_tag(&tag) {
                    list.tags.push(tag);
                }
            }
            match next {
                // A cursor that does not move on would loop.
                Some(last) if cursor.as_ref() != Some(&last) => cursor = Some(last),
                _ => return Ok(list),
            }
            if page + 1 == MAX_TAG_PAGES {
                list.truncated = true;
            }
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cursor_takes_only_a_valid_last_tag() {
        assert_eq!(
            next_cursor("</v2/lf/hash/tags/list?last=1.2.0&n=100>; rel=\"next\"").as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            next_cursor("<https://elsewhere.example/v2/x/tags/list?n=100&last=v2>; rel=\"next\"")
                .as_deref(),
            Some("v2")
        );
        assert_eq!(
            next_cursor("</v2/x/tags/list?last=a&n=1>; rel=\"prev\""),
            None
        );
        assert_eq!(
            next_cursor("</v2/x/tags/list?last=../../x>; rel=\"next\""),
            None
        );
        assert_eq!(
            next_cursor("</v2/x/tags/list?last=a%2Fb>; rel=\"next\""),
            None
        );
        assert_eq!(next_cursor("garbage"), None);
    }

    #[test]
    fn tags_follow_the_grammar() {
        for ok in ["1.0", "v1.2.3-rc.1", "latest", "_x", "sha256-abc.sig"] {
            assert!(is_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(129)] {
            assert!(!is_tag(bad), "{bad}");
        }
    }
}
