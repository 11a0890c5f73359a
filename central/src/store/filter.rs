//! A small WHERE-clause builder for list endpoints whose filters are all
//! optional: each filter adds a clause and a numbered parameter, so the
//! count query and the page query share one filter.

use tokio_postgres::types::ToSql;

type Param = Box<dyn ToSql + Sync + Send>;

/// Accumulated filters.
#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    params: Vec<Param>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("clauses", &self.clauses)
            .finish_non_exhaustive()
    }
}

impl Filter {
    /// Adds `clause`, where `$` stands for the new parameter.
    pub fn add(&mut self, clause: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        self.clauses
            .push(clause.replace('$', &format!("${}", self.params.len())));
    }

    /// Adds the clause only when the value is present.
    pub fn opt<T: ToSql + Sync + Send + 'static>(&mut self, clause: &str, value: Option<T>) {
        if let Some(v) = value {
            self.add(clause, v);
        }
    }

    /// `WHERE …` (or nothing).
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The next parameter's placeholder number.
    pub fn next_index(&self) -> usize {
        self.params.len() + 1
    }

    /// Parameters, plus `extra` after them.
    pub fn params<'a>(&'a self, extra: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .chain(extra.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_number_their_parameters() {
        let mut f = Filter::default();
        assert_eq!(f.where_sql(), "");
        f.add("camera_id = $", "c1".to_owned());
        f.opt::<String>("type = $", None);
        f.add("ts >= $", 5i64);
        assert_eq!(f.where_sql(), "WHERE camera_id = $1 AND ts >= $2");
        assert_eq!(f.next_index(), 3);
        assert_eq!(f.params(&[&10i64]).len(), 3);
    }
}
