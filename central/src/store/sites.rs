//! Sites as the API lists them: the web UI needs each site's time zone to
//! show times and days as the people on site read them.

use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// One site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// IANA time zone: "today" counts, daily history and the UI's times.
    pub timezone: String,
    /// How many cameras the site has.
    pub cameras: i64,
}

impl FromRow for Site {
    const COLUMNS: &'static str = "s.id, s.name, s.timezone, (SELECT count(*) FROM cameras c WHERE c.site_id = s.id) AS cameras";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            timezone: r.try_get("timezone")?,
            cameras: r.try_get("cameras")?,
        })
    }
}

/// One page of sites by id (only `site`, if given), and how many match.
pub async fn page(
    client: &impl GenericClient,
    site: Option<String>,
    window: Window,
) -> Result<(Vec<Site>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("s.id = $", site);
    list::page(client, "sites s", "", &f, "s.id", window).await
}
