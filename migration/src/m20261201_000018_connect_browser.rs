//! A connection attempt is bound to the browser that started it: the hash of a nonce
//! that only that browser holds in a cookie, checked at the platform's callback.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .add_column(string_len_null(OauthStates::BrowserHash, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthStates::Table)
                    .drop_column(OauthStates::BrowserHash)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    BrowserHash,
}
