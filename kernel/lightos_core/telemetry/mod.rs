// SPDX-License-Identifier: GPL-2.0

//! What the module tells about itself and its devices — `GET_INFO` ([`info`]), `QUERY` ([`query`]),
//! module-wide counters ([`stats`]) and their debugfs view ([`debugfs`]), device events and
//! `EVENT_WAIT` ([`events`]) — and `POWER_SET` ([`power`]), the controls a power governor acts
//! through on what it reads here.

pub(crate) mod debugfs;
pub(crate) mod events;
pub(crate) mod info;
pub(crate) mod power;
pub(crate) mod query;
pub(crate) mod stats;
