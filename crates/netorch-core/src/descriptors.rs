//! The NS descriptors and slice templates one family onboards (OSM's NSDs and NSTs) as another
//! family offers them (TMF633 service specifications), without either depending on the other.

use async_trait::async_trait;

use crate::StoreError;

/// What kind of descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorKind {
    /// A network service descriptor.
    Nsd,
    /// A network slice template.
    Nst,
}

impl DescriptorKind {
    /// `NSD` or `NST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nsd => "NSD",
            Self::Nst => "NST",
        }
    }
}

/// An onboarded descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// NSD or NST.
    pub kind: DescriptorKind,
    /// The record's id (`_id`).
    pub record_id: String,
    /// The descriptor's own `id`.
    pub descriptor_id: String,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Its version, if any.
    pub version: Option<String>,
    /// Designer or vendor, if any.
    pub designer: Option<String>,
    /// VNFDs (NSD) or NSDs (NST) it is made of.
    pub members: Vec<String>,
    /// Enabled for instantiation (onboarded and not disabled).
    pub enabled: bool,
}

/// The descriptors onboarded now.
#[async_trait]
pub trait DescriptorSource: Send + Sync + 'static {
    /// A number that changes whenever the set or any descriptor changes.
    async fn version(&self) -> Result<i64, StoreError>;
    /// Every onboarded descriptor.
    async fn descriptors(&self) -> Result<Vec<Descriptor>, StoreError>;
}
