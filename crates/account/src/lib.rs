//! orrery-account: the desktop's side of accounts.
//!
//! [`AccountClient`] talks to the sync server's `/v1/auth` and `/v1/me`
//! routes: register, sign in, refresh (every refresh token is used once),
//! sign out, profile, password reset. [`loopback`] runs the native-app OAuth
//! flow of RFC 8252: PKCE, the system browser, and a one-shot listener on
//! 127.0.0.1. Where tokens are kept (the OS keyring) is the shell's business;
//! this crate hands them over as a [`Session`].

mod admin;
mod channels;
mod client;
mod error;
pub mod loopback;
mod marketplace;
mod teams;

pub use admin::{
    AdminOverview, AdminTenant, AdminUser, AuditEntry, AuditPage, AuditQuery, GraphRuns, MailParts,
    MailPreview, MailTemplate, MetricUsage, OverviewDay, PromptRollback, PublishedPrompt,
    PublishedPromptPage, RunDay, RunFigures, RunMonitoring, SignedInDevice, TenantMember,
    TenantPage, UserAction, UserChange, UserDetail, UserInvoice, UserPage, UserQuery, UserRuns,
};
pub use channels::{ChannelConnection, ChannelMessage, MessengerChannel, ServerProvider};
pub use client::{Account, AccountClient, ProfileUpdate, Provider, Session};
pub use error::AccountError;
pub use marketplace::{
    MarketListing, MarketListingDetail, MarketPage, MarketPayout, MarketPurchase, MarketReconciled,
    MarketReport, MarketReview, MarketSale, MarketSales, MarketSalesMonth, MarketSalesTotals,
    MarketSearch, MarketSeller, MarketVersion, NewMarketListing,
};
pub use teams::{JoinedTeam, Team, TeamInvitation, TeamMember, TeamPeople};
