//! Which columns a selection reads: each list-read type (a draft, a channel it goes to, a
//! comment) names, field by field, the columns its resolvers read from the row; a read for
//! a selection leaves the others out (`db::reads::Omitted`: each is selected as a
//! constant stand-in, not fetched and decoded). A field not named in its type's table —
//! one added later — reads every column, so forgetting the table costs speed, never a
//! wrong answer.

use std::sync::OnceLock;

use async_graphql::SelectionField;
use sea_orm::{EntityTrait, IdenStatic};

use crate::db::reads::Omitted;
use crate::domain::entities::{comments, draft_targets, drafts};

/// The columns each field of one GraphQL type reads from its row of `E`.
pub struct FieldColumns<E: EntityTrait> {
    /// Read whatever is selected: the keys rows are grouped, paged and cached by.
    pub always: &'static [E::Column],
    /// Each field with the columns its resolver reads.
    pub fields: &'static [(&'static str, &'static [E::Column])],
    /// The same as `Omitted` bits, worked out once: every draft of a page asks.
    bits: OnceLock<Bits>,
}

/// A table as bits of `Omitted`.
struct Bits {
    /// What can be left out, less what is always read.
    omittable: u64,
    fields: Vec<(&'static str, u64)>,
}

impl<E: EntityTrait> FieldColumns<E> {
    const fn new(
        always: &'static [E::Column],
        fields: &'static [(&'static str, &'static [E::Column])],
    ) -> Self {
        Self {
            always,
            fields,
            bits: OnceLock::new(),
        }
    }

    fn bits(&self) -> &Bits {
        self.bits.get_or_init(|| {
            let named = |columns: &[E::Column]| {
                Omitted::all_but::<E>(|c| !columns.iter().any(|n| n.as_str() == c.as_str())).bits()
            };
            Bits {
                omittable: Omitted::all_but::<E>(|_| false).bits() & !named(self.always),
                fields: self
                    .fields
                    .iter()
                    .map(|(name, columns)| (*name, named(columns)))
                    .collect(),
            }
        })
    }

    /// What the selections of this type (every alias selecting it; fragments expanded)
    /// leave unread: nothing when one names a field the table does not.
    pub fn omitted(&self, selections: &[SelectionField<'_>]) -> Omitted {
        let bits = self.bits();
        let mut left_out = bits.omittable;
        for selection in selections {
            for field in selection.selection_set() {
                let name = field.name();
                if name == "__typename" {
                    continue;
                }
                match bits.fields.iter().find(|(known, _)| *known == name) {
                    Some((_, read)) => left_out &= !read,
                    None => return Omitted::NONE,
                }
            }
        }
        Omitted::from_bits(left_out)
    }
}

/// `Draft`'s fields (`graphql::content::Draft`).
pub static DRAFT: FieldColumns<drafts::Entity> = {
    use drafts::Column::*;
    FieldColumns::new(
        &[Id, WorkspaceId],
        &[
            ("id", &[Id]),
            ("title", &[Title]),
            ("body", &[Body]),
            ("tags", &[Tags]),
            ("status", &[Status]),
            ("version", &[Version]),
            ("scheduledAt", &[ScheduledAt]),
            ("timeZone", &[TimeZone]),
            ("createdAt", &[CreatedAt]),
            ("updatedAt", &[UpdatedAt]),
            ("origin", &[Origin]),
            ("author", &[AuthorId]),
            ("commentCount", &[CommentCount]),
            // The relations read by the draft's id.
            ("performance", &[Id]),
            ("targets", &[Id]),
            ("revisions", &[Id]),
            ("workflow", &[Id]),
            ("lastComments", &[Id]),
            ("comments", &[Id]),
            ("media", &[Id]),
            ("clientReviews", &[Id]),
            ("generations", &[Id]),
        ],
    )
};

/// `DraftTarget`'s fields.
pub static TARGET: FieldColumns<draft_targets::Entity> = {
    use draft_targets::Column::*;
    FieldColumns::new(
        &[Id, DraftId],
        &[
            ("id", &[Id]),
            ("provider", &[Provider]),
            ("integrationId", &[IntegrationId]),
            ("title", &[Title]),
            ("body", &[Body]),
            ("origin", &[Origin]),
            ("status", &[Status]),
            ("providerPostId", &[ProviderPostId]),
            ("url", &[Url]),
            ("publishedAt", &[PublishedAt]),
            ("updatedAt", &[UpdatedAt]),
            ("attempts", &[Id]),
            ("limits", &[Provider]),
        ],
    )
};

/// `Comment`'s fields.
pub static COMMENT: FieldColumns<comments::Entity> = {
    use comments::Column::*;
    FieldColumns::new(
        &[Id, DraftId],
        &[
            ("id", &[Id]),
            ("draftId", &[DraftId]),
            ("parentId", &[ParentId]),
            ("author", &[AuthorId]),
            ("reviewLinkId", &[ReviewLinkId]),
            // Null once deleted.
            ("body", &[Body, DeletedAt]),
            ("mentions", &[Mentions]),
            ("resolved", &[ResolvedAt]),
            ("resolvedAt", &[ResolvedAt]),
            ("resolvedBy", &[ResolvedBy]),
            ("editedAt", &[EditedAt]),
            ("deleted", &[DeletedAt]),
            ("deletedAt", &[DeletedAt]),
            ("createdAt", &[CreatedAt]),
        ],
    )
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field a table names is a field of its type in the schema (a misspelt name
    /// would make that field read everything), and every column but the keys can be left
    /// out.
    #[test]
    fn the_tables_name_the_types_fields() {
        let sdl = super::super::sdl();
        let fields_of = |type_name: &str| -> Vec<String> {
            let start = sdl
                .find(&format!("\ntype {type_name} {{"))
                .unwrap_or_else(|| panic!("no type {type_name}"));
            let body = &sdl[start..];
            let body = &body[..body.find("\n}").unwrap_or(body.len())];
            body.lines()
                .filter_map(|line| {
                    let line = line.trim_start_matches('\t');
                    let end = line.find(['(', ':'])?;
                    let name = &line[..end];
                    (!name.is_empty() && name.chars().all(char::is_alphanumeric))
                        .then(|| name.to_string())
                })
                .collect()
        };
        fn names<E: EntityTrait>(table: &FieldColumns<E>) -> Vec<&'static str> {
            table.fields.iter().map(|(name, _)| *name).collect()
        }
        for (type_name, named) in [
            ("Draft", names(&DRAFT)),
            ("DraftTarget", names(&TARGET)),
            ("Comment", names(&COMMENT)),
        ] {
            let fields = fields_of(type_name);
            for name in &named {
                assert!(fields.iter().any(|f| f == name), "{type_name}.{name}");
            }
            // Today every field is named: a new one reads everything until it is.
            for field in &fields {
                assert!(
                    named.contains(&field.as_str()),
                    "{type_name}.{field} is not named"
                );
            }
        }
        // Every column a field shows is named by one (all but the target's `created_at`,
        // which no field shows): a field reading a column its entry misnames would
        // otherwise show the stand-in in every query, and no comparison of answers
        // could tell.
        fn unread<E: EntityTrait>(table: &FieldColumns<E>) -> Vec<&'static str> {
            use sea_orm::Iterable;
            let left = table
                .bits()
                .fields
                .iter()
                .fold(table.bits().omittable, |left, (_, read)| left & !read);
            let left = Omitted::from_bits(left);
            E::Column::iter()
                .enumerate()
                .filter(|(place, _)| left.leaves_out(*place))
                .map(|(_, column)| column.as_str())
                .collect()
        }
        assert_eq!(unread(&DRAFT), Vec::<&str>::new());
        assert_eq!(unread(&TARGET), vec!["created_at"]);
        assert_eq!(unread(&COMMENT), Vec::<&str>::new());
        let bare = Omitted::all_but::<drafts::Entity>(|_| false);
        use sea_orm::Iterable;
        assert_eq!(
            (0..drafts::Column::iter().count())
                .filter(|p| bare.leaves_out(*p))
                .count(),
            drafts::Column::iter().count(),
            "every draft column has a stand-in"
        );
        let bare = Omitted::all_but::<draft_targets::Entity>(|_| false);
        assert!((0..draft_targets::Column::iter().count()).all(|p| bare.leaves_out(p)));
        let bare = Omitted::all_but::<comments::Entity>(|_| false);
        assert!((0..comments::Column::iter().count()).all(|p| bare.leaves_out(p)));
    }
}
