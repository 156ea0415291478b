//! Grids, components and the dataset that holds them.
//!
//! All geometry is WGS84 longitude/latitude in degrees (EPSG:4326, x = lon,
//! y = lat). Components are stored column-wise so that a city of ten million
//! of them fits in about a gigabyte.

use std::collections::HashMap;

use geo::{Coord, MultiPolygon};
use serde::Serialize;

use crate::codes::{ClassTable, ComponentScheme, GridScheme};

/// A grid polygon at one level of the hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Grid code; its length gives the level and its prefix the parent.
    pub code: String,
    /// Display name (Chinese), e.g. `东华门街道`.
    pub name: String,
    /// Level index into the [`GridScheme`] (0 = coarsest).
    pub level: usize,
    /// The grid worker (网格员) responsible, for unit grids.
    pub worker: Option<String>,
    /// Boundary, WGS84 lon/lat degrees.
    pub geometry: MultiPolygon<f64>,
}

/// Condition of a component (部件状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ComponentState {
    /// 完好
    #[default]
    Intact,
    /// 破损
    Damaged,
    /// 丢失
    Lost,
    /// 占用
    Occupied,
}

impl ComponentState {
    /// All states in code order.
    pub const ALL: [ComponentState; 4] = [
        ComponentState::Intact,
        ComponentState::Damaged,
        ComponentState::Lost,
        ComponentState::Occupied,
    ];

    /// The Chinese name used in source data and the viewer.
    pub fn chinese(self) -> &'static str {
        match self {
            ComponentState::Intact => "完好",
            ComponentState::Damaged => "破损",
            ComponentState::Lost => "丢失",
            ComponentState::Occupied => "占用",
        }
    }

    /// The English name used in the API.
    pub fn english(self) -> &'static str {
        match self {
            ComponentState::Intact => "intact",
            ComponentState::Damaged => "damaged",
            ComponentState::Lost => "lost",
            ComponentState::Occupied => "occupied",
        }
    }

    /// Parses the Chinese or English name (case-insensitive); empty means intact.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Some(ComponentState::Intact);
        }
        Self::ALL
            .into_iter()
            .find(|st| st.chinese() == s || st.english().eq_ignore_ascii_case(s))
    }

    fn from_u8(v: u8) -> Self {
        Self::ALL[v as usize & 3]
    }
}

/// One component as read from a file or written to one: owned strings, easy to
/// handle, too big to keep ten million of. [`Components`] is the compact store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentRecord {
    /// Component code (district + class + sequence).
    pub code: String,
    /// Name, e.g. `上水井盖`.
    pub name: String,
    /// 4-digit class code.
    pub class: String,
    /// 主管部门
    pub department: String,
    /// 权属单位
    pub owner: String,
    /// 养护单位
    pub maintainer: String,
    /// 状态
    pub state: ComponentState,
    /// 初始日期, `YYYY-MM-DD` or empty.
    pub initial_date: String,
    /// 变更日期, `YYYY-MM-DD` or empty.
    pub change_date: String,
    /// 数据来源
    pub source: String,
    /// 备注
    pub remarks: String,
    /// Location, WGS84 lon/lat degrees.
    pub location: Coord<f64>,
}

/// Parses `YYYY-MM-DD` (or `YYYYMMDD`, or `YYYY/MM/DD`) into `yyyymmdd`; empty is 0.
pub fn parse_date(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    // Dates are ASCII; the shape checks below slice by byte.
    if !s.is_ascii() {
        return None;
    }
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let ok_shape = s.len() == 8 && digits.len() == 8
        || s.len() == 10
            && digits.len() == 8
            && matches!(&s[4..5], "-" | "/")
            && s[4..5] == s[7..8];
    if !ok_shape {
        return None;
    }
    let v: u32 = digits.parse().ok()?;
    let (m, d) = ((v / 100) % 100, v % 100);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(v)
}

fn format_date(v: u32) -> String {
    if v == 0 {
        String::new()
    } else {
        format!("{:04}-{:02}-{:02}", v / 10000, (v / 100) % 100, v % 100)
    }
}

/// A column of strings in one buffer, 4 bytes of offset per entry.
#[derive(Debug, Clone, Default)]
struct TextColumn {
    ends: Vec<u32>,
    text: String,
}

impl TextColumn {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
    }
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
    fn bytes(&self) -> usize {
        self.ends.capacity() * 4 + self.text.capacity()
    }
    fn append(&mut self, other: &TextColumn) {
        let base = self.text.len() as u32;
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }
}

/// Repeated strings (departments, owners) stored once, referenced by `u32`.
#[derive(Debug, Clone, Default)]
struct Interner {
    strings: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }
    fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// A grid of a snapshot, by its place in the snapshot's dataset (grids
/// sorted by level, then code): what lookups answer and
/// [`Snapshot::grid`](crate::snapshot::Snapshot::grid) takes. The level
/// indexes number each level's grids from 0 instead (plain `u32`, "level-local");
/// only [`LevelIndex`](crate::index::LevelIndex) converts between the two, so
/// that one cannot be passed for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GridId(u32);

impl GridId {
    /// The grid at dataset position `index`.
    pub const fn new(index: u32) -> GridId {
        GridId(index)
    }

    /// The dataset position.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The dataset position, for indexing.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Column store of components, sorted by code once [`Components::finish`] ran.
///
/// Codes are kept as integers (all codes of a dataset have the scheme's length,
/// so leading zeros are restored on output). Lookup by code is a binary search.
#[derive(Debug, Clone, Default)]
pub struct Components {
    code_len: usize,
    codes: Vec<u64>,
    class: Vec<u16>,
    state: Vec<u8>,
    location: Vec<[f64; 2]>,
    department: Vec<u32>,
    owner: Vec<u32>,
    maintainer: Vec<u32>,
    source: Vec<u32>,
    initial_date: Vec<u32>,
    change_date: Vec<u32>,
    names: TextColumn,
    remarks: TextColumn,
    strings: Interner,
}

/// A borrowed view of one stored component.
#[derive(Debug, Clone, Copy)]
pub struct ComponentRef<'a> {
    store: &'a Components,
    /// Dense index in the store.
    pub index: usize,
}

impl<'a> ComponentRef<'a> {
    /// Component code with leading zeros restored.
    pub fn code(&self) -> String {
        format!(
            "{:0width$}",
            self.store.codes[self.index],
            width = self.store.code_len
        )
    }
    /// Component code as stored: the code's digits as an integer.
    pub fn code_number(&self) -> u64 {
        self.store.codes[self.index]
    }
    /// Dense class index into the [`ClassTable`].
    pub fn class(&self) -> u16 {
        self.store.class[self.index]
    }
    /// State.
    pub fn state(&self) -> ComponentState {
        ComponentState::from_u8(self.store.state[self.index])
    }
    /// Location, WGS84 lon/lat degrees.
    pub fn location(&self) -> Coord<f64> {
        let [x, y] = self.store.location[self.index];
        Coord { x, y }
    }
    /// Owner (权属单位).
    pub fn owner(&self) -> &'a str {
        self.store.strings.get(self.store.owner[self.index])
    }
    /// Name.
    pub fn name(&self) -> &'a str {
        self.store.names.get(self.index)
    }
    /// Full record with owned strings, for output.
    pub fn record(&self, classes: &ClassTable) -> ComponentRecord {
        let s = self.store;
        let i = self.index;
        ComponentRecord {
            code: self.code(),
            name: self.name().to_string(),
            class: classes.def(self.class()).code.clone(),
            department: s.strings.get(s.department[i]).to_string(),
            owner: s.strings.get(s.owner[i]).to_string(),
            maintainer: s.strings.get(s.maintainer[i]).to_string(),
            state: self.state(),
            initial_date: format_date(s.initial_date[i]),
            change_date: format_date(s.change_date[i]),
            source: s.strings.get(s.source[i]).to_string(),
            remarks: s.remarks.get(i).to_string(),
            location: self.location(),
        }
    }
}

impl Components {
    /// An empty store for codes of `code_len` digits (at most 19).
    pub fn new(code_len: usize) -> Self {
        Components {
            code_len,
            ..Default::default()
        }
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Reserves room for `n` more components.
    pub fn reserve(&mut self, n: usize) {
        self.codes.reserve(n);
        self.class.reserve(n);
        self.state.reserve(n);
        self.location.reserve(n);
        self.department.reserve(n);
        self.owner.reserve(n);
        self.maintainer.reserve(n);
        self.source.reserve(n);
        self.initial_date.reserve(n);
        self.change_date.reserve(n);
        self.names.ends.reserve(n);
        self.remarks.ends.reserve(n);
    }

    /// Appends a component whose code and class were validated by the caller.
    /// `class` is the dense class index; dates must parse with [`parse_date`]
    /// (unparseable dates are stored as empty).
    pub fn push(&mut self, r: &ComponentRecord, class: u16) {
        self.codes.push(r.code.parse().unwrap_or(0));
        self.class.push(class);
        self.state.push(r.state as u8);
        self.location.push([r.location.x, r.location.y]);
        self.department.push(self.strings.intern(&r.department));
        self.owner.push(self.strings.intern(&r.owner));
        self.maintainer.push(self.strings.intern(&r.maintainer));
        self.source.push(self.strings.intern(&r.source));
        self.initial_date
            .push(parse_date(&r.initial_date).unwrap_or(0));
        self.change_date
            .push(parse_date(&r.change_date).unwrap_or(0));
        self.names.push(&r.name);
        self.remarks.push(&r.remarks);
    }

    /// Appends `other`'s components after these (the same code length):
    /// what lets several threads each read a part of a city and the parts
    /// be joined in order.
    pub fn append(&mut self, other: Components) {
        let remap: Vec<u32> = other
            .strings
            .strings
            .iter()
            .map(|s| self.strings.intern(s))
            .collect();
        let ids = |v: &[u32]| v.iter().map(|&i| remap[i as usize]).collect::<Vec<u32>>();
        self.codes.extend_from_slice(&other.codes);
        self.class.extend_from_slice(&other.class);
        self.state.extend_from_slice(&other.state);
        self.location.extend_from_slice(&other.location);
        self.department.extend(ids(&other.department));
        self.owner.extend(ids(&other.owner));
        self.maintainer.extend(ids(&other.maintainer));
        self.source.extend(ids(&other.source));
        self.initial_date.extend_from_slice(&other.initial_date);
        self.change_date.extend_from_slice(&other.change_date);
        self.names.append(&other.names);
        self.remarks.append(&other.remarks);
    }

    /// Sorts by code so that [`Components::find`] can binary-search. Text columns
    /// are rebuilt in the new order.
    pub fn finish(&mut self) {
        if self.codes.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by_key(|&i| self.codes[i as usize]);
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            *v = order.iter().map(|&i| v[i as usize]).collect();
        }
        permute(&mut self.codes, &order);
        permute(&mut self.class, &order);
        permute(&mut self.state, &order);
        permute(&mut self.location, &order);
        permute(&mut self.department, &order);
        permute(&mut self.owner, &order);
        permute(&mut self.maintainer, &order);
        permute(&mut self.source, &order);
        permute(&mut self.initial_date, &order);
        permute(&mut self.change_date, &order);
        let mut names = TextColumn::default();
        let mut remarks = TextColumn::default();
        for &i in &order {
            names.push(self.names.get(i as usize));
            remarks.push(self.remarks.get(i as usize));
        }
        self.names = names;
        self.remarks = remarks;
    }

    /// Finds a component by code (the store must be finished).
    pub fn find(&self, code: &str) -> Option<ComponentRef<'_>> {
        if code.len() != self.code_len || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = code.parse().ok()?;
        self.codes
            .binary_search(&v)
            .ok()
            .map(|index| self.get(index))
    }

    /// Store indexes of the components whose code starts with the digits
    /// `prefix` (the store must be finished): a numeric range of the sorted codes.
    pub fn prefix_range(&self, prefix: &str) -> std::ops::Range<usize> {
        let n = prefix.len();
        if n == 0 || n > self.code_len || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return 0..0;
        }
        let Ok(p) = prefix.parse::<u64>() else {
            return 0..0;
        };
        let scale = 10u64.pow((self.code_len - n) as u32);
        let lo = p.saturating_mul(scale);
        let hi = (p + 1).saturating_mul(scale);
        self.codes.partition_point(|&c| c < lo)..self.codes.partition_point(|&c| c < hi)
    }

    /// The component at a dense index.
    pub fn get(&self, index: usize) -> ComponentRef<'_> {
        ComponentRef { store: self, index }
    }

    /// Iterates over all components.
    pub fn iter(&self) -> impl Iterator<Item = ComponentRef<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Locations of all components, WGS84 lon/lat degrees, in store order.
    pub fn locations(&self) -> &[[f64; 2]] {
        &self.location
    }

    /// Approximate heap bytes used by the store.
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity() * 8
            + self.class.capacity() * 2
            + self.state.capacity()
            + self.location.capacity() * 16
            + (self.department.capacity()
                + self.owner.capacity()
                + self.maintainer.capacity()
                + self.source.capacity()
                + self.initial_date.capacity()
                + self.change_date.capacity())
                * 4
            + self.names.bytes()
            + self.remarks.bytes()
    }

    /// Shrinks all columns to fit.
    pub fn shrink(&mut self) {
        self.codes.shrink_to_fit();
        self.class.shrink_to_fit();
        self.state.shrink_to_fit();
        self.location.shrink_to_fit();
        self.department.shrink_to_fit();
        self.owner.shrink_to_fit();
        self.maintainer.shrink_to_fit();
        self.source.shrink_to_fit();
        self.initial_date.shrink_to_fit();
        self.change_date.shrink_to_fit();
        self.names.text.shrink_to_fit();
        self.names.ends.shrink_to_fit();
        self.remarks.text.shrink_to_fit();
        self.remarks.ends.shrink_to_fit();
    }
}

/// A city: its grid scheme, grids of all levels, class table and components.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Grid levels and code lengths.
    pub scheme: GridScheme,
    /// Component code structure.
    pub component_scheme: ComponentScheme,
    /// Component classes.
    pub classes: ClassTable,
    /// Grids of all levels, in any order.
    pub grids: Vec<Grid>,
    /// Components, shared by the snapshots of revisions that did not change them.
    pub components: std::sync::Arc<Components>,
}

impl Dataset {
    /// An empty dataset with the default scheme and built-in classes.
    pub fn empty() -> Self {
        let cs = ComponentScheme::default();
        Dataset {
            scheme: GridScheme::default(),
            component_scheme: cs,
            classes: ClassTable::builtin(),
            grids: Vec::new(),
            components: std::sync::Arc::new(Components::new(cs.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(code: &str, name: &str) -> ComponentRecord {
        ComponentRecord {
            code: code.into(),
            name: name.into(),
            class: code[6..10].into(),
            department: "城管委".into(),
            owner: "自来水公司".into(),
            maintainer: "自来水公司".into(),
            state: ComponentState::Damaged,
            initial_date: "2023-04-01".into(),
            change_date: String::new(),
            source: "普查".into(),
            remarks: "备注".into(),
            location: Coord { x: 116.4, y: 39.9 },
        }
    }

    #[test]
    fn components_round_trip_and_find() {
        let classes = ClassTable::builtin();
        let mut c = Components::new(16);
        let a = rec("3205080102000002", "污水井盖");
        let b = rec("0205080101000001", "上水井盖");
        c.push(&a, classes.get("0102").unwrap());
        c.push(&b, classes.get("0101").unwrap());
        c.finish();
        let got = c.find("0205080101000001").unwrap();
        assert_eq!(got.index, 0);
        assert_eq!(got.record(&classes), b);
        assert_eq!(c.find("3205080102000002").unwrap().record(&classes), a);
        assert!(c.find("3205080102000003").is_none());
        assert!(c.find("320508010200000x").is_none());
    }

    #[test]
    fn dates_and_states() {
        assert_eq!(parse_date("2024-02-29"), Some(20240229));
        assert_eq!(parse_date("20240229"), Some(20240229));
        assert_eq!(parse_date(""), Some(0));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-0101"), None);
        assert_eq!(ComponentState::parse("破损"), Some(ComponentState::Damaged));
        assert_eq!(ComponentState::parse("LOST"), Some(ComponentState::Lost));
        assert_eq!(ComponentState::parse("坏"), None);
    }
}
