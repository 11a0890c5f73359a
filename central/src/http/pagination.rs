//! The planning document's list format: `data`, `meta` (page, per_page,
//! total, total_pages) and `links` (first, prev, next, last), 50 per page
//! by default, 1000 at most.

use axum::http::Uri;
use serde::Serialize;

use crate::error::ApiError;

pub const DEFAULT_PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 1000;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    /// The page a list handler's `page` and `per_page` parameters ask for.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(ApiError::bad_request("page starts at 1"));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(ApiError::bad_request(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        Ok(Self { page, per_page })
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// The rows this page covers, as the store's list query takes them.
    pub fn window(&self) -> crate::store::list::Window {
        crate::store::list::Window {
            limit: self.limit(),
            offset: self.offset(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Meta {
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    pub total_pages: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Links {
    pub first: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: String,
}

/// One page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub meta: Meta,
    pub links: Links,
}

fn link(uri: &Uri, page: i64, per_page: u32) -> String {
    // No query: no parameters to carry over (hence `unwrap_or_default`).
    let mut params: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k != "page" && k != "per_page").then(|| (k.to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    params.push(("page".into(), page.to_string()));
    params.push(("per_page".into(), per_page.to_string()));
    let q: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{}?{}", uri.path(), q.join("&"))
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: Page, total: i64, uri: &Uri) -> Self {
        let total_pages =
            ((total + i64::from(page.per_page) - 1) / i64::from(page.per_page)).max(1);
        let p = i64::from(page.page);
        Self {
            data,
            meta: Meta {
                page: page.page,
                per_page: page.per_page,
                total,
                total_pages,
            },
            links: Links {
                first: link(uri, 1, page.per_page),
                prev: (p > 1).then(|| link(uri, (p - 1).min(total_pages), page.per_page)),
                next: (p < total_pages).then(|| link(uri, p + 1, page.per_page)),
                last: link(uri, total_pages, page.per_page),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_defaults() {
        assert_eq!(
            Page::new(None, None).unwrap(),
            Page {
                page: 1,
                per_page: 50
            }
        );
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(None, Some(1001)).is_err());
        assert_eq!(Page::new(Some(3), Some(20)).unwrap().offset(), 40);
    }

    #[test]
    fn links_keep_filters_and_stop_at_the_ends() {
        let uri: Uri = "/api/v1/events?camera_id=c1&page=2&per_page=10"
            .parse()
            .unwrap();
        let p = Paginated::new(
            vec![1, 2],
            Page {
                page: 2,
                per_page: 10,
            },
            25,
            &uri,
        );
        assert_eq!(p.meta.total_pages, 3);
        assert_eq!(
            p.links.first,
            "/api/v1/events?camera_id=c1&page=1&per_page=10"
        );
        assert_eq!(
            p.links.prev.as_deref(),
            Some("/api/v1/events?camera_id=c1&page=1&per_page=10")
        );
        assert_eq!(
            p.links.next.as_deref(),
            Some("/api/v1/events?camera_id=c1&page=3&per_page=10")
        );
        assert_eq!(
            p.links.last,
            "/api/v1/events?camera_id=c1&page=3&per_page=10"
        );
        let last = Paginated::new(
            vec![1],
            Page {
                page: 3,
                per_page: 10,
            },
            25,
            &uri,
        );
        assert!(last.links.next.is_none());
        let empty = Paginated::<u8>::new(
            vec![],
            Page {
                page: 1,
                per_page: 10,
            },
            0,
            &uri,
        );
        assert_eq!(
            (
                empty.meta.total_pages,
                empty.links.prev.is_none(),
                empty.links.next.is_none()
            ),
            (1, true, true)
        );
    }
}
