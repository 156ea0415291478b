//! Code schemes: grid codes by level, component codes, and the class table.
//!
//! Grid codes are hierarchical digit strings: a parent's code is the prefix of
//! its children's codes. The default scheme is the national one (district 6
//! digits, street 9, community 12, unit grid 15, with legacy 14-digit unit grid
//! codes accepted), but every length is configuration.
//!
//! ```
//! use wangge::codes::GridScheme;
//! let scheme = GridScheme::default();
//! assert_eq!(scheme.level_of("110101001001007").unwrap(), 3);
//! assert_eq!(scheme.parent_code("110101001001007").unwrap().as_deref(), Some("110101001001"));
//! assert!(scheme.level_of("11010100100100").is_ok()); // legacy 14-digit unit grid
//! assert!(scheme.level_of("1101010010010").is_err());
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What is wrong with a code. Each variant names the rule the code breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The code is empty.
    #[error("code is empty")]
    Empty,
    /// The code contains something other than ASCII digits.
    #[error("code '{code}' must contain only digits 0-9 (found '{found}')")]
    NotDigits {
        /// The offending code.
        code: String,
        /// The first character that is not a digit.
        found: char,
    },
    /// The code's length matches no configured level.
    #[error("code '{code}' has {len} digits; grid codes must have {expected}")]
    GridLength {
        /// The offending code.
        code: String,
        /// Its length in characters.
        len: usize,
        /// A human-readable list of the accepted lengths.
        expected: String,
    },
    /// The code is of a different level than the record says.
    #[error(
        "code '{code}' has {len} digits, which is level '{actual}', but the record says level '{declared}'"
    )]
    LevelMismatch {
        /// The offending code.
        code: String,
        /// Its length.
        len: usize,
        /// The level the length implies.
        actual: String,
        /// The level the record declares.
        declared: String,
    },
    /// The code does not start with its parent's code.
    #[error("code '{code}' does not start with its parent's code '{parent}'")]
    ParentPrefix {
        /// The offending code.
        code: String,
        /// The declared parent code.
        parent: String,
    },
    /// A component code of the wrong length.
    #[error(
        "component code '{code}' has {len} digits; component codes have {expected} (district {district} + class 4 + sequence {sequence})"
    )]
    ComponentLength {
        /// The offending code.
        code: String,
        /// Its length.
        len: usize,
        /// Total expected length.
        expected: usize,
        /// District part length.
        district: usize,
        /// Sequence part length.
        sequence: usize,
    },
    /// A component code whose class part is not in the class table.
    #[error(
        "component code '{code}' has class '{class}', which is not in the class table (add local classes to the class file)"
    )]
    UnknownClass {
        /// The offending code.
        code: String,
        /// The 4-digit major+minor class.
        class: String,
    },
    /// A component whose code's class part differs from its declared class.
    #[error(
        "component code '{code}' encodes class '{encoded}' but the record's class is '{declared}'"
    )]
    ClassMismatch {
        /// The offending code.
        code: String,
        /// Class encoded in the code.
        encoded: String,
        /// Class the record declares.
        declared: String,
    },
    /// A sequence number of all zeros, in a scheme whose level does not allow it.
    #[error(
        "code '{code}' has sequence number 0; sequences start at 1 in this scheme (a scheme whose codes may have zero parts, such as GB/T 2260's 441900, sets \"allow_zero_sequence\": true on the level, or use --scheme gbt2260)"
    )]
    ZeroSequence {
        /// The offending code.
        code: String,
    },
}

/// Result alias for code validation.
pub type Result<T> = std::result::Result<T, CodeError>;

fn check_digits(code: &str) -> Result<()> {
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    if let Some(found) = code.chars().find(|c| !c.is_ascii_digit()) {
        return Err(CodeError::NotDigits {
            code: code.to_string(),
            found,
        });
    }
    Ok(())
}

/// One level of the grid hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelDef {
    /// Machine name, e.g. `district`, `street`, `community`, `unit`.
    pub name: String,
    /// Display name in Chinese, e.g. `区县`.
    pub label: String,
    /// Number of digits of a code at this level.
    pub code_len: usize,
    /// Other accepted lengths (legacy codes), e.g. 14 for old unit grids.
    #[serde(default)]
    pub legacy_lens: Vec<usize>,
    /// Whether the part a code adds to its parent's may be all zeros
    /// (GB/T 2260 has 441900 — a prefecture with no counties — and 820000);
    /// the default urban scheme says no: sequences start at 1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_zero_sequence: bool,
    /// Zoom from which vector tiles draw this level, overriding the one
    /// derived from the grids' sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minzoom: Option<u8>,
}

/// The grid levels of a deployment, coarsest first. Level index 0 is the top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridScheme {
    /// Levels from coarsest (index 0) to finest.
    pub levels: Vec<LevelDef>,
}

impl Default for GridScheme {
    fn default() -> Self {
        let level = |name: &str, label: &str, code_len, legacy_lens: Vec<usize>| LevelDef {
            name: name.into(),
            label: label.into(),
            code_len,
            legacy_lens,
            ..Default::default()
        };
        GridScheme {
            levels: vec![
                level("district", "区县", 6, vec![]),
                level("street", "街道", 9, vec![]),
                level("community", "社区", 12, vec![]),
                level("unit", "单元网格", 15, vec![14]),
            ],
        }
    }
}

/// Names of the built-in schemes, for `--scheme`.
pub const SCHEME_PRESETS: &[&str] = &["urban", "gbt2260"];

impl GridScheme {
    /// A built-in scheme by name: `urban` (the default: district 6, street 9,
    /// community 12, unit grid 15 or legacy 14 digits, sequences from 1) or
    /// `gbt2260` (administrative divisions: province 2, prefecture 4,
    /// county 6 digits, zero parts allowed as in 441900 and 820000).
    pub fn preset(name: &str) -> Option<GridScheme> {
        match name {
            "urban" => Some(GridScheme::default()),
            "gbt2260" => {
                let level = |name: &str, label: &str, code_len| LevelDef {
                    name: name.into(),
                    label: label.into(),
                    code_len,
                    allow_zero_sequence: true,
                    ..Default::default()
                };
                Some(GridScheme {
                    levels: vec![
                        level("province", "省级", 2),
                        level("city", "地级", 4),
                        level("county", "县级", 6),
                    ],
                })
            }
            _ => None,
        }
    }
}

/// A scheme file: grid levels and the component code structure, each optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemeFile {
    levels: Option<Vec<LevelDef>>,
    component: Option<ComponentScheme>,
}

/// Loads the schemes named by `--scheme`: a built-in name (see
/// [`GridScheme::preset`]) or a JSON file
/// `{"levels": [{"name", "label", "code_len", "legacy_lens", "allow_zero_sequence", "minzoom"}], "component": {"district_len", "sequence_len"}}`.
/// Missing parts keep the defaults. The grid scheme is checked.
pub fn load_scheme(spec: &str) -> std::result::Result<(GridScheme, ComponentScheme), SchemeError> {
    if let Some(s) = GridScheme::preset(spec) {
        s.check()?;
        return Ok((s, ComponentScheme::default()));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| SchemeError::File {
        path: spec.to_string(),
        message: format!(
            "{e} (give a scheme file, or one of the built-in schemes: {})",
            SCHEME_PRESETS.join(", ")
        ),
    })?;
    let file: SchemeFile = serde_json::from_str(&text).map_err(|e| SchemeError::File {
        path: spec.to_string(),
        message: format!("not a valid scheme file: {e}"),
    })?;
    let scheme = file
        .levels
        .map_or_else(GridScheme::default, |levels| GridScheme { levels });
    scheme.check()?;
    Ok((scheme, file.component.unwrap_or_default()))
}

/// Why a scheme definition itself is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemeError {
    /// No levels at all.
    #[error("a grid scheme needs at least one level")]
    NoLevels,
    /// Lengths must strictly grow from coarse to fine.
    #[error("level '{0}' must have longer codes than the level above it")]
    NotIncreasing(String),
    /// Two levels share a name or a length.
    #[error("levels must have distinct names and code lengths (duplicate: '{0}')")]
    Duplicate(String),
    /// The scheme file cannot be read or parsed.
    #[error("scheme {path}: {message}")]
    File {
        /// The file named.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl GridScheme {
    /// Checks that the scheme is usable: levels exist, lengths grow, no duplicates.
    pub fn check(&self) -> std::result::Result<(), SchemeError> {
        if self.levels.is_empty() {
            return Err(SchemeError::NoLevels);
        }
        let mut seen_names = std::collections::HashSet::new();
        let mut seen_lens = std::collections::HashSet::new();
        let mut prev = 0usize;
        for l in &self.levels {
            if !seen_names.insert(l.name.clone()) {
                return Err(SchemeError::Duplicate(l.name.clone()));
            }
            for len in std::iter::once(l.code_len).chain(l.legacy_lens.iter().copied()) {
                if len <= prev {
                    return Err(SchemeError::NotIncreasing(l.name.clone()));
                }
                if !seen_lens.insert(len) {
                    return Err(SchemeError::Duplicate(format!("{} digits", len)));
                }
            }
            prev = l
                .code_len
                .max(l.legacy_lens.iter().copied().max().unwrap_or(0));
        }
        Ok(())
    }

    /// Number of levels.
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Index of the finest level (the unit grid in the default scheme).
    pub fn finest(&self) -> usize {
        self.levels.len() - 1
    }

    /// Index of the level with this machine name.
    pub fn level_index(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.name == name)
    }

    fn expected_lengths(&self) -> String {
        self.levels
            .iter()
            .map(|l| {
                let mut s = format!("{} ({})", l.code_len, l.name);
                for legacy in &l.legacy_lens {
                    s.push_str(&format!(" or {} (legacy {})", legacy, l.name));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The level index of a grid code, from its length. Checks digits and length.
    pub fn level_of(&self, code: &str) -> Result<usize> {
        check_digits(code)?;
        let len = code.len();
        self.levels
            .iter()
            .position(|l| l.code_len == len || l.legacy_lens.contains(&len))
            .ok_or_else(|| CodeError::GridLength {
                code: code.to_string(),
                len,
                expected: self.expected_lengths(),
            })
    }

    /// Validates a grid code against a declared level (if any) and parent (if any),
    /// returning the level index.
    pub fn validate(
        &self,
        code: &str,
        declared_level: Option<usize>,
        parent: Option<&str>,
    ) -> Result<usize> {
        let level = self.level_of(code)?;
        if let Some(d) = declared_level
            && d != level
        {
            return Err(CodeError::LevelMismatch {
                code: code.to_string(),
                len: code.len(),
                actual: self.levels[level].name.clone(),
                declared: self.levels[d].name.clone(),
            });
        }
        if let Some(p) = parent
            && !code.starts_with(p)
        {
            return Err(CodeError::ParentPrefix {
                code: code.to_string(),
                parent: p.to_string(),
            });
        }
        if level > 0 && !self.levels[level].allow_zero_sequence {
            let parent_len = self.levels[level - 1].code_len;
            if code[parent_len..].bytes().all(|b| b == b'0') {
                return Err(CodeError::ZeroSequence {
                    code: code.to_string(),
                });
            }
        }
        Ok(level)
    }

    /// The parent's code: the prefix of the level above, or `None` at the top level.
    pub fn parent_code(&self, code: &str) -> Result<Option<String>> {
        let level = self.level_of(code)?;
        Ok(if level == 0 {
            None
        } else {
            Some(code[..self.levels[level - 1].code_len].to_string())
        })
    }

    /// Codes of all ancestors, top level first, then the code itself.
    pub fn chain(&self, code: &str) -> Result<Vec<String>> {
        let level = self.level_of(code)?;
        let mut out: Vec<String> = self.levels[..level]
            .iter()
            .map(|l| code[..l.code_len].to_string())
            .collect();
        out.push(code.to_string());
        Ok(out)
    }
}

/// Structure of component codes: district prefix + 4-digit class + sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentScheme {
    /// Digits of the district prefix (default 6).
    pub district_len: usize,
    /// Digits of the sequence number (default 6).
    pub sequence_len: usize,
}

impl Default for ComponentScheme {
    fn default() -> Self {
        ComponentScheme {
            district_len: 6,
            sequence_len: 6,
        }
    }
}

/// A component code split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCode<'a> {
    /// District code prefix.
    pub district: &'a str,
    /// 4-digit class code (major 2 + minor 2).
    pub class: &'a str,
    /// Sequence number within district and class.
    pub sequence: &'a str,
}

impl ComponentScheme {
    /// Total code length (saturating: a scheme with absurd part lengths
    /// matches no code).
    pub fn len(&self) -> usize {
        self.district_len
            .saturating_add(4)
            .saturating_add(self.sequence_len)
    }

    /// Always false: a component code has at least the 4 class digits.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Splits and validates a component code against the scheme and class table.
    pub fn parse<'a>(&self, code: &'a str, classes: &ClassTable) -> Result<ComponentCode<'a>> {
        check_digits(code)?;
        if code.len() != self.len() {
            return Err(CodeError::ComponentLength {
                code: code.to_string(),
                len: code.len(),
                expected: self.len(),
                district: self.district_len,
                sequence: self.sequence_len,
            });
        }
        let district = &code[..self.district_len];
        let class = &code[self.district_len..self.district_len + 4];
        let sequence = &code[self.district_len + 4..];
        if classes.get(class).is_none() {
            return Err(CodeError::UnknownClass {
                code: code.to_string(),
                class: class.to_string(),
            });
        }
        if sequence.bytes().all(|b| b == b'0') {
            return Err(CodeError::ZeroSequence {
                code: code.to_string(),
            });
        }
        Ok(ComponentCode {
            district,
            class,
            sequence,
        })
    }
}

/// One component class: major class (2 digits) and minor class (2 digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassDef {
    /// 4-digit code, major + minor.
    pub code: String,
    /// Major class name, e.g. `公用设施`.
    pub major_name: String,
    /// Minor class name, e.g. `上水井盖`.
    pub minor_name: String,
}

impl ClassDef {
    /// The 2-digit major class code.
    pub fn major(&self) -> &str {
        &self.code[..2]
    }
}

/// Errors reading a class table file.
#[derive(Debug, thiserror::Error)]
pub enum ClassTableError {
    /// The file could not be read.
    #[error("cannot read class table {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("class table {path}, line {line}: {message}")]
    Row {
        /// File path.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The component class table (GB/T 30428.2 / CJ/T 214 classes plus local ones).
///
/// Classes are indexed by a dense `u16` so that a component stores 2 bytes for
/// its class.
#[derive(Debug, Clone, Default)]
pub struct ClassTable {
    classes: Vec<ClassDef>,
    by_code: BTreeMap<String, u16>,
}

/// The class table shipped with wangge (`data/classes.csv`), compiled in.
pub const BUILTIN_CLASSES_CSV: &str = include_str!("../data/classes.csv");

impl ClassTable {
    /// The table as CSV, in the form [`ClassTable::from_csv_str`] reads.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("kind,code,major_code,major_name,minor_code,minor_name\n");
        for c in self.all() {
            out.push_str(&format!(
                "component,{},{},{},{},{}\n",
                c.code,
                c.major(),
                c.major_name,
                &c.code[2..],
                c.minor_name
            ));
        }
        out
    }

    /// The built-in national class table (component classes only).
    pub fn builtin() -> Self {
        // The shipped file is tested to parse; an error here is a build defect.
        Self::from_csv_str(BUILTIN_CLASSES_CSV, "data/classes.csv")
            .expect("built-in class table parses")
    }

    /// Parses a CSV with columns `kind,code,major_code,major_name,minor_code,minor_name`;
    /// rows whose `kind` is not `component` are skipped.
    pub fn from_csv_str(text: &str, path: &str) -> std::result::Result<Self, ClassTableError> {
        let mut table = ClassTable::default();
        table.extend_csv(text, path)?;
        Ok(table)
    }

    /// Adds the component classes of another CSV (local extension classes).
    /// A code already present is replaced by the local definition.
    pub fn extend_csv(
        &mut self,
        text: &str,
        path: &str,
    ) -> std::result::Result<(), ClassTableError> {
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        for (i, row) in rdr.records().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| ClassTableError::Row {
                path: path.into(),
                line,
                message: e.to_string(),
            })?;
            let get = |n: usize| row.get(n).unwrap_or("").trim().to_string();
            if get(0) != "component" {
                continue;
            }
            let code = get(1);
            if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ClassTableError::Row {
                    path: path.into(),
                    line,
                    message: format!("class code '{code}' must be 4 digits"),
                });
            }
            let def = ClassDef {
                code: code.clone(),
                major_name: get(3),
                minor_name: get(5),
            };
            match self.by_code.get(&code) {
                Some(&idx) => self.classes[idx as usize] = def,
                None => {
                    self.by_code.insert(code, self.classes.len() as u16);
                    self.classes.push(def);
                }
            }
        }
        Ok(())
    }

    /// Loads the built-in table, extended by a local CSV file if given.
    pub fn load(local: Option<&Path>) -> std::result::Result<Self, ClassTableError> {
        let mut t = Self::builtin();
        if let Some(p) = local {
            let text = std::fs::read_to_string(p).map_err(|source| ClassTableError::Io {
                path: p.display().to_string(),
                source,
            })?;
            t.extend_csv(&text, &p.display().to_string())?;
        }
        Ok(t)
    }

    /// Looks a 4-digit class code up, returning its dense index.
    pub fn get(&self, code: &str) -> Option<u16> {
        self.by_code.get(code).copied()
    }

    /// The class at a dense index.
    pub fn def(&self, idx: u16) -> &ClassDef {
        &self.classes[idx as usize]
    }

    /// All classes, in dense-index order.
    pub fn all(&self) -> &[ClassDef] {
        &self.classes
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when the table has no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scheme_levels() {
        let s = GridScheme::default();
        s.check().unwrap();
        assert_eq!(s.level_of("110101").unwrap(), 0);
        assert_eq!(s.level_of("110101001").unwrap(), 1);
        assert_eq!(s.level_of("110101001001").unwrap(), 2);
        assert_eq!(s.level_of("110101001001007").unwrap(), 3);
        assert_eq!(s.level_of("11010100100107").unwrap(), 3);
        assert_eq!(
            s.chain("110101001001007").unwrap(),
            vec!["110101", "110101001", "110101001001", "110101001001007"]
        );
    }

    #[test]
    fn bad_grid_codes_name_their_rule() {
        let s = GridScheme::default();
        assert!(matches!(s.level_of(""), Err(CodeError::Empty)));
        assert!(matches!(
            s.level_of("11010a"),
            Err(CodeError::NotDigits { found: 'a', .. })
        ));
        let e = s.level_of("1101010").unwrap_err();
        assert!(matches!(e, CodeError::GridLength { len: 7, .. }));
        assert!(e.to_string().contains("6 (district)"));
        assert!(matches!(
            s.validate("110102001", None, Some("110101")),
            Err(CodeError::ParentPrefix { .. })
        ));
        assert!(matches!(
            s.validate("110101001", Some(2), None),
            Err(CodeError::LevelMismatch { .. })
        ));
        assert!(matches!(
            s.validate("110101000", None, None),
            Err(CodeError::ZeroSequence { .. })
        ));
    }

    #[test]
    fn custom_three_level_scheme() {
        let s = GridScheme {
            levels: vec![
                LevelDef {
                    name: "a".into(),
                    label: "A".into(),
                    code_len: 2,
                    legacy_lens: vec![],
                    ..Default::default()
                },
                LevelDef {
                    name: "b".into(),
                    label: "B".into(),
                    code_len: 4,
                    legacy_lens: vec![],
                    ..Default::default()
                },
                LevelDef {
                    name: "c".into(),
                    label: "C".into(),
                    code_len: 6,
                    legacy_lens: vec![],
                    ..Default::default()
                },
            ],
        };
        s.check().unwrap();
        assert_eq!(s.level_of("123456").unwrap(), 2);
        assert_eq!(s.parent_code("123456").unwrap().as_deref(), Some("1234"));
        assert!(s.level_of("123").is_err());
    }

    #[test]
    fn broken_schemes_are_refused() {
        let mut s = GridScheme::default();
        s.levels[1].code_len = 5;
        assert!(matches!(s.check(), Err(SchemeError::NotIncreasing(_))));
        assert!(matches!(
            GridScheme { levels: vec![] }.check(),
            Err(SchemeError::NoLevels)
        ));
    }

    #[test]
    fn component_codes() {
        let classes = ClassTable::builtin();
        assert!(classes.len() >= 80);
        let cs = ComponentScheme::default();
        let c = cs.parse("3205080101000001", &classes).unwrap();
        assert_eq!(c.district, "320508");
        assert_eq!(c.class, "0101");
        assert_eq!(
            classes.def(classes.get("0101").unwrap()).minor_name,
            "上水井盖"
        );
        assert!(matches!(
            cs.parse("320508010100001", &classes),
            Err(CodeError::ComponentLength { len: 15, .. })
        ));
        assert!(matches!(
            cs.parse("3205089999000001", &classes),
            Err(CodeError::UnknownClass { .. })
        ));
        assert!(matches!(
            cs.parse("3205080101000000", &classes),
            Err(CodeError::ZeroSequence { .. })
        ));
        assert!(matches!(
            cs.parse("32050801010000x1", &classes),
            Err(CodeError::NotDigits { .. })
        ));
    }

    #[test]
    fn local_classes_extend_the_table() {
        let mut t = ClassTable::builtin();
        let n = t.len();
        t.extend_csv(
            "kind,code,major_code,major_name,minor_code,minor_name\ncomponent,0699,06,其他设施,99,充电桩\nevent,0101,01,x,01,y\n",
            "local.csv",
        )
        .unwrap();
        assert_eq!(t.len(), n + 1);
        assert_eq!(t.def(t.get("0699").unwrap()).minor_name, "充电桩");
        let bad = t.extend_csv("kind,code\ncomponent,69\n", "bad.csv");
        assert!(matches!(bad, Err(ClassTableError::Row { line: 2, .. })));
    }
}
