//! A synthetic but plausible city, reproducible from a seed.
//!
//! The city is laid on a fine lattice of jittered quadrilateral cells (about
//! 44 m across). Districts, streets, communities and unit grids are grown as
//! balanced random regions of cells, each level inside the regions of the level
//! above, so every grid is irregular, every level covers its parent with no gap
//! and no overlap, and neighbouring grids share their border vertices exactly.
//! Components are placed uniformly at random in cells with a realistic class
//! mix (many trees, manhole covers and lights; few kiosks).
//!
//! Output coordinates are WGS84 lon/lat degrees around [`GenerateOptions::center`].

use std::collections::{BinaryHeap, HashMap};

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::codes::{ClassTable, GridScheme};
use crate::measure::LocalFrame;
use crate::model::{ComponentRecord, ComponentState, Grid};

/// Sizes and placement of a generated city.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Random seed: the same seed and sizes give the same city, byte for byte.
    pub seed: u64,
    /// Target number of unit grids (the result is within a few percent).
    pub unit_grids: usize,
    /// Number of components.
    pub components: usize,
    /// City centre, WGS84 lon/lat degrees.
    pub center: Coord<f64>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 20261129,
            unit_grids: 16_000,
            components: 2_000_000,
            center: Coord {
                x: 118.78,
                y: 32.06,
            },
        }
    }
}

/// Edge of a lattice cell, metres.
const CELL_M: f64 = 44.0;
/// Target cells per unit grid: 8 × 44² m² ≈ 15,500 m² per unit grid.
const CELLS_PER_UNIT: usize = 8;
/// Children per parent at each level below the top: streets per district,
/// communities per street, unit grids per community.
const FANOUT: [usize; 3] = [8, 10, 25];

/// A generated city: its grids (all four default levels) and a lazy component stream.
#[derive(Debug)]
pub struct City {
    /// Grids of all levels.
    pub grids: Vec<Grid>,
    nx: usize,
    vertices: Vec<Coord<f64>>,
    /// Unit grid code index per cell, or u32::MAX outside the city.
    cell_unit: Vec<u32>,
    /// Cells inside the city, for uniform placement.
    inside_cells: Vec<u32>,
    unit_codes: Vec<String>,
    options: GenerateOptions,
}

const OUTSIDE: u32 = u32::MAX;

/// Grows `k` balanced, connected regions over `cells` (a connected set).
/// Returns the region of each cell in `label` (entries for these cells only).
fn grow_regions(
    cells: &[u32],
    k: usize,
    nx: usize,
    ny: usize,
    label: &mut [u32],
    base: u32,
    rng: &mut ChaCha8Rng,
) -> usize {
    let k = k.clamp(1, cells.len());
    // Mark the parent's cells as claimable.
    const FREE: u32 = u32::MAX - 1;
    for &c in cells {
        label[c as usize] = FREE;
    }
    // Seeds by best-candidate sampling: spread out, still random.
    let mut seeds: Vec<u32> = vec![cells[rng.random_range(0..cells.len())]];
    let pos = |c: u32| ((c as usize % nx) as f64, (c as usize / nx) as f64);
    while seeds.len() < k {
        let mut best = (f64::MIN, 0u32);
        for _ in 0..12 {
            let cand = cells[rng.random_range(0..cells.len())];
            let (x, y) = pos(cand);
            let d = seeds
                .iter()
                .map(|&s| {
                    let (sx, sy) = pos(s);
                    (sx - x).powi(2) + (sy - y).powi(2)
                })
                .fold(f64::MAX, f64::min);
            if d > best.0 {
                best = (d, cand);
            }
        }
        if best.0 <= 0.0 {
            break;
        }
        seeds.push(best.1);
    }
    let k = seeds.len();
    let mut frontier: Vec<Vec<u32>> = vec![Vec::new(); k];
    let mut size = vec![0usize; k];
    let mut heap = BinaryHeap::new();
    for (r, &s) in seeds.iter().enumerate() {
        label[s as usize] = base + r as u32;
        size[r] = 1;
        push_neighbours(s, nx, ny, &mut frontier[r]);
        heap.push(std::cmp::Reverse((1usize, r)));
    }
    while let Some(std::cmp::Reverse((_, r))) = heap.pop() {
        // Claim one free neighbouring cell, picked at random from the frontier.
        let mut claimed = false;
        while !frontier[r].is_empty() {
            let i = rng.random_range(0..frontier[r].len());
            let c = frontier[r].swap_remove(i);
            if label[c as usize] == FREE {
                label[c as usize] = base + r as u32;
                size[r] += 1;
                push_neighbours(c, nx, ny, &mut frontier[r]);
                claimed = true;
                break;
            }
        }
        if claimed {
            heap.push(std::cmp::Reverse((size[r], r)));
        }
    }
    k
}

fn push_neighbours(c: u32, nx: usize, ny: usize, out: &mut Vec<u32>) {
    let (x, y) = (c as usize % nx, c as usize / nx);
    if x > 0 {
        out.push(c - 1);
    }
    if x + 1 < nx {
        out.push(c + 1);
    }
    if y > 0 {
        out.push(c - nx as u32);
    }
    if y + 1 < ny {
        out.push(c + nx as u32);
    }
}

/// Traces the boundary of the cells labelled `region` into polygons with
/// counter-clockwise exteriors and clockwise holes. Vertices are lattice
/// vertex indexes, so neighbours share them exactly.
fn trace(cells: &[u32], label: &[u32], region: u32, nx: usize, ny: usize) -> Vec<Vec<Vec<u32>>> {
    let vx = nx + 1;
    let v = |x: usize, y: usize| (y * vx + x) as u32;
    let inside = |x: isize, y: isize| {
        x >= 0
            && y >= 0
            && (x as usize) < nx
            && (y as usize) < ny
            && label[y as usize * nx + x as usize] == region
    };
    // Directed boundary edges with the region on the left.
    let mut out_edges: HashMap<u32, Vec<u32>> = HashMap::new();
    for &c in cells {
        let (x, y) = (c as usize % nx, c as usize / nx);
        let (xi, yi) = (x as isize, y as isize);
        if !inside(xi, yi - 1) {
            out_edges.entry(v(x, y)).or_default().push(v(x + 1, y));
        }
        if !inside(xi + 1, yi) {
            out_edges
                .entry(v(x + 1, y))
                .or_default()
                .push(v(x + 1, y + 1));
        }
        if !inside(xi, yi + 1) {
            out_edges
                .entry(v(x + 1, y + 1))
                .or_default()
                .push(v(x, y + 1));
        }
        if !inside(xi - 1, yi) {
            out_edges.entry(v(x, y + 1)).or_default().push(v(x, y));
        }
    }
    let dir = |a: u32, b: u32| {
        let (ax, ay) = ((a as usize % vx) as i64, (a as usize / vx) as i64);
        let (bx, by) = ((b as usize % vx) as i64, (b as usize / vx) as i64);
        (bx - ax, by - ay)
    };
    let mut starts: Vec<u32> = out_edges.keys().copied().collect();
    starts.sort_unstable();
    let mut rings: Vec<Vec<u32>> = Vec::new();
    for s in starts {
        while let Some(first) = out_edges.get_mut(&s).and_then(|e| e.pop()) {
            let mut ring = vec![s, first];
            let (mut prev, mut cur) = (s, first);
            while cur != s {
                let (dx, dy) = dir(prev, cur);
                let outs = out_edges
                    .get_mut(&cur)
                    .expect("boundary edges form closed rings");
                // Prefer the left-most turn: it separates lobes that touch at a vertex.
                let pick = (0..outs.len())
                    .max_by_key(|&i| {
                        let (ex, ey) = dir(cur, outs[i]);
                        dx * ey - dy * ex
                    })
                    .expect("a boundary vertex has an outgoing edge");
                let next = outs.swap_remove(pick);
                ring.push(next);
                prev = cur;
                cur = next;
            }
            rings.push(ring);
        }
    }
    // Rings with region on the left: exteriors are counter-clockwise.
    let area = |r: &Vec<u32>| {
        r.windows(2)
            .map(|w| {
                let (a, b) = (w[0] as usize, w[1] as usize);
                ((a % vx) * (b / vx)) as f64 - ((b % vx) * (a / vx)) as f64
            })
            .sum::<f64>()
    };
    let (exteriors, holes): (Vec<_>, Vec<_>) = rings.into_iter().partition(|r| area(r) > 0.0);
    let mut polys: Vec<Vec<Vec<u32>>> = exteriors.into_iter().map(|e| vec![e]).collect();
    for h in holes {
        // A hole belongs to the exterior that encloses its first vertex's cell.
        let target = if polys.len() == 1 {
            0
        } else {
            let p = h[0] as usize;
            let (px, py) = ((p % vx) as f64 + 0.1, (p / vx) as f64 + 0.1);
            polys
                .iter()
                .position(|poly| {
                    let ring = &poly[0];
                    let mut inside = false;
                    for w in ring.windows(2) {
                        let (a, b) = (w[0] as usize, w[1] as usize);
                        let (ax, ay, bx, by) = (
                            (a % vx) as f64,
                            (a / vx) as f64,
                            (b % vx) as f64,
                            (b / vx) as f64,
                        );
                        if (ay > py) != (by > py) && px < ax + (py - ay) / (by - ay) * (bx - ax) {
                            inside = !inside;
                        }
                    }
                    inside
                })
                .unwrap_or(0)
        };
        polys[target].push(h);
    }
    polys
}

const DISTRICT_NAMES: &[&str] = &[
    "玄武", "秦淮", "建邺", "鼓楼", "栖霞", "雨花", "江宁", "浦口", "六合", "溧水", "高淳", "江北",
    "仙林", "麒麟", "龙潭", "汤山", "淳化", "禄口", "横溪", "铜井",
];
const PLACE_SYLLABLES: &[&str] = &[
    "东", "西", "南", "北", "中", "华", "新", "安", "宁", "和", "平", "康", "乐", "春", "秋", "梅",
    "竹", "兰", "松", "柳", "桃", "李", "金", "玉", "银", "石", "河", "湖", "山", "林", "园", "桥",
    "门", "塘", "湾", "庄", "营", "村", "街", "坊", "明", "光", "阳", "月", "星", "龙", "凤", "鹤",
    "翠", "锦",
];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "志强", "海燕",
];

fn place_name(rng: &mut ChaCha8Rng) -> String {
    let a = PLACE_SYLLABLES[rng.random_range(0..PLACE_SYLLABLES.len())];
    let b = PLACE_SYLLABLES[rng.random_range(0..PLACE_SYLLABLES.len())];
    format!("{a}{b}")
}

fn person_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}{}",
        SURNAMES[rng.random_range(0..SURNAMES.len())],
        GIVEN[rng.random_range(0..GIVEN.len())]
    )
}

/// The jittered lattice vertices of an `nx` × `ny` cell grid of
/// [`CELL_M`]-metre cells centred on `center` (lon/lat degrees).
fn lattice(rng: &mut ChaCha8Rng, nx: usize, ny: usize, center: Coord<f64>) -> Vec<Coord<f64>> {
    let frame = LocalFrame::new(center);
    (0..=ny)
        .flat_map(|y| (0..=nx).map(move |x| (x, y)))
        .map(|(x, y)| {
            let jx = rng.random_range(-0.2..0.2);
            let jy = rng.random_range(-0.2..0.2);
            let m = Coord {
                x: (x as f64 + jx - nx as f64 / 2.0) * CELL_M,
                y: (y as f64 + jy - ny as f64 / 2.0) * CELL_M,
            };
            frame.to_deg(m)
        })
        .collect()
}

/// The city's cells: a wobbly ellipse in the lattice, its largest
/// 4-connected piece so the city is one piece.
fn outline(rng: &mut ChaCha8Rng, nx: usize, ny: usize) -> Vec<u32> {
    let phases: Vec<f64> = (0..4)
        .map(|_| rng.random_range(0.0..std::f64::consts::TAU))
        .collect();
    let mut city_cells = Vec::new();
    for y in 0..ny {
        for x in 0..nx {
            let u = (x as f64 + 0.5) / nx as f64 * 2.0 - 1.0;
            let v = (y as f64 + 0.5) / ny as f64 * 2.0 - 1.0;
            let a = v.atan2(u);
            let wobble = 1.0
                + 0.08 * (2.0 * a + phases[0]).sin()
                + 0.05 * (3.0 * a + phases[1]).sin()
                + 0.03 * (5.0 * a + phases[2]).sin();
            if (u * u + v * v).sqrt() < 0.94 * wobble {
                city_cells.push((y * nx + x) as u32);
            }
        }
    }
    largest_component(&city_cells, nx, ny)
}

/// The order in which a parent's children are numbered: north→south in
/// rows, west→east within a row (DB11/T 2157). `members[r]` are child `r`'s cells.
fn numbering_order(members: &[Vec<u32>], parent_cells: usize, nx: usize) -> Vec<usize> {
    let row_h = ((parent_cells as f64 / members.len() as f64).sqrt()).max(1.0);
    let mut order: Vec<(i64, f64, usize)> = members
        .iter()
        .enumerate()
        .map(|(r, m)| {
            let (sx, sy) = m.iter().fold((0.0, 0.0), |(ax, ay), &c| {
                (ax + (c as usize % nx) as f64, ay + (c as usize / nx) as f64)
            });
            let (cx, cy) = (sx / m.len() as f64, sy / m.len() as f64);
            (-((cy / row_h).floor() as i64), cx, r)
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    order.into_iter().map(|(_, _, r)| r).collect()
}

/// The polygons of the region labelled `id` (its `cells`), lon/lat degrees.
fn region_geometry(
    cells: &[u32],
    label: &[u32],
    id: u32,
    nx: usize,
    ny: usize,
    vertices: &[Coord<f64>],
) -> MultiPolygon<f64> {
    MultiPolygon(
        trace(cells, label, id, nx, ny)
            .into_iter()
            .map(|rings| {
                let mut rings = rings.into_iter().map(|ring| {
                    LineString(ring.into_iter().map(|v| vertices[v as usize]).collect())
                });
                let ext = rings.next().expect("a polygon has an exterior");
                Polygon::new(ext, rings.collect())
            })
            .collect(),
    )
}

/// The name (and, for a unit grid, the worker) of the `seq`-th child at
/// `level` of the default four-level scheme.
fn grid_name(
    level: usize,
    seq: usize,
    parent_name: &str,
    rng: &mut ChaCha8Rng,
) -> (String, Option<String>) {
    match level {
        0 => (
            format!(
                "{}区",
                DISTRICT_NAMES
                    .get(seq)
                    .map_or_else(|| place_name(rng), |s| s.to_string())
            ),
            None,
        ),
        1 => (format!("{}街道", place_name(rng)), None),
        2 => (format!("{}社区", place_name(rng)), None),
        _ => (
            format!("{parent_name}第{}网格", seq + 1),
            Some(person_name(rng)),
        ),
    }
}

fn district_code(i: usize) -> String {
    format!("32{:02}{:02}", 1 + i / 20, 2 + i % 20)
}

impl City {
    /// Generates the grids of a city (components are produced lazily by
    /// [`City::components`]). Uses the default four-level scheme.
    pub fn generate(options: &GenerateOptions) -> City {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let target_units = options.unit_grids.max(4);
        let target_cells = target_units * CELLS_PER_UNIT;
        // The city is a blob inside an nx × ny lattice (blob ≈ 69% of it).
        let nx = ((target_cells as f64 / 0.69 * 1.25).sqrt().ceil() as usize).max(4);
        let ny = ((target_cells as f64 / 0.69 / nx as f64).ceil() as usize).max(4);
        let vertices = lattice(&mut rng, nx, ny, options.center);
        let city_cells = outline(&mut rng, nx, ny);
        let mut label = vec![OUTSIDE; nx * ny];

        let n_units = (city_cells.len() / CELLS_PER_UNIT).max(1);
        let n_comm = (n_units / FANOUT[2]).max(1);
        let n_street = (n_comm / FANOUT[1]).max(1);
        let n_district = (n_street / FANOUT[0]).max(2).min(city_cells.len());
        let scheme = GridScheme::default();

        let mut grids: Vec<Grid> = Vec::new();
        let mut names: HashMap<String, String> = HashMap::new();
        // Level by level: regions of the level above are split into children.
        let mut parents: Vec<(String, Vec<u32>)> = vec![(String::new(), city_cells.clone())];
        let mut cell_unit = vec![OUTSIDE; nx * ny];
        let mut unit_codes = Vec::new();
        let totals = [n_district, n_street, n_comm, n_units];
        for level in 0..4 {
            // Labels of this level's regions; unique across the level so that a
            // neighbouring parent's children never look like ours.
            label.fill(OUTSIDE);
            let mut next_label = 0u32;
            let mut next: Vec<(String, Vec<u32>)> = Vec::new();
            let total_cells: usize = parents.iter().map(|p| p.1.len()).sum();
            for (pi, (parent_code, cells)) in parents.iter().enumerate() {
                let share = cells.len() as f64 / total_cells as f64;
                let k = if level == 0 {
                    totals[0]
                } else {
                    ((totals[level] as f64 * share).round() as usize).max(1)
                };
                let base = next_label;
                let k = grow_regions(cells, k, nx, ny, &mut label, base, &mut rng);
                next_label += k as u32;
                let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
                for &c in cells {
                    members[(label[c as usize] - base) as usize].push(c);
                }
                let order = numbering_order(&members, cells.len(), nx);
                for (seq, &r) in order.iter().enumerate() {
                    let code = if level == 0 {
                        district_code(pi * k + seq)
                    } else {
                        let width =
                            scheme.levels[level].code_len - scheme.levels[level - 1].code_len;
                        format!("{parent_code}{:0width$}", seq + 1)
                    };
                    let geometry =
                        region_geometry(&members[r], &label, base + r as u32, nx, ny, &vertices);
                    let parent_name = names.get(parent_code).map_or("", |n| n.as_str());
                    let (name, worker) = grid_name(level, seq, parent_name, &mut rng);
                    if level == 3 {
                        for &c in &members[r] {
                            cell_unit[c as usize] = unit_codes.len() as u32;
                        }
                        unit_codes.push(code.clone());
                    }
                    if level < 3 {
                        names.insert(code.clone(), name.clone());
                    }
                    grids.push(Grid {
                        code: code.clone(),
                        name,
                        level,
                        worker,
                        geometry,
                    });
                    next.push((code, std::mem::take(&mut members[r])));
                }
            }
            parents = next;
        }
        let mut inside_cells = city_cells;
        inside_cells.sort_unstable();
        City {
            grids,
            nx,
            vertices,
            cell_unit,
            inside_cells,
            unit_codes,
            options: options.clone(),
        }
    }

    /// The unit grid code the generator placed each component in (same order as
    /// [`City::components`]), an oracle for lookup tests.
    pub fn unit_code_of_cell(&self, cell: u32) -> &str {
        &self.unit_codes[self.cell_unit[cell as usize] as usize]
    }

    /// The components, generated lazily in a fixed order from the seed, each
    /// with the lattice cell it was placed in.
    pub fn components<'a>(
        &'a self,
        classes: &'a ClassTable,
    ) -> impl Iterator<Item = (ComponentRecord, u32)> + 'a {
        let mut rng = ChaCha8Rng::seed_from_u64(self.options.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mix = ClassMix::new(classes);
        let mut seq: HashMap<(u32, u16), u32> = HashMap::new();
        let nx = self.nx;
        (0..self.options.components).map(move |_| {
            let cell = self.inside_cells[rng.random_range(0..self.inside_cells.len())];
            let (x, y) = (cell as usize % nx, cell as usize / nx);
            let vx = nx + 1;
            let (p00, p10) = (self.vertices[y * vx + x], self.vertices[y * vx + x + 1]);
            let (p01, p11) = (
                self.vertices[(y + 1) * vx + x],
                self.vertices[(y + 1) * vx + x + 1],
            );
            let (u, v): (f64, f64) = (rng.random_range(0.02..0.98), rng.random_range(0.02..0.98));
            let location = Coord {
                x: (1.0 - v) * ((1.0 - u) * p00.x + u * p10.x)
                    + v * ((1.0 - u) * p01.x + u * p11.x),
                y: (1.0 - v) * ((1.0 - u) * p00.y + u * p10.y)
                    + v * ((1.0 - u) * p01.y + u * p11.y),
            };
            let class = mix.pick(&mut rng);
            let def = classes.def(class);
            let unit = self.unit_code_of_cell(cell);
            let district = &unit[..6];
            let district_num: u32 = district.parse().unwrap_or(0);
            let n = seq.entry((district_num, class)).or_insert(0);
            *n += 1;
            let (department, owner) = owners(&def.code);
            let state = match rng.random_range(0..100) {
                0..92 => ComponentState::Intact,
                92..97 => ComponentState::Damaged,
                97..98 => ComponentState::Lost,
                _ => ComponentState::Occupied,
            };
            let year = rng.random_range(2010..2025);
            let initial_date = format!(
                "{year}-{:02}-{:02}",
                rng.random_range(1..13),
                rng.random_range(1..29)
            );
            let change_date = if rng.random_range(0..4) == 0 {
                format!(
                    "{}-{:02}-{:02}",
                    rng.random_range(year..2026),
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                )
            } else {
                String::new()
            };
            let rec = ComponentRecord {
                code: format!("{district}{}{:06}", def.code, *n),
                name: def.minor_name.clone(),
                class: def.code.clone(),
                department: department.to_string(),
                owner: owner.to_string(),
                maintainer: owner.to_string(),
                state,
                initial_date,
                change_date,
                source: "2024年城市部件普查".to_string(),
                remarks: String::new(),
                location,
            };
            (rec, cell)
        })
    }
}

fn largest_component(cells: &[u32], nx: usize, ny: usize) -> Vec<u32> {
    let mut in_set = vec![false; nx * ny];
    for &c in cells {
        in_set[c as usize] = true;
    }
    let mut seen = vec![false; nx * ny];
    let mut best: Vec<u32> = Vec::new();
    for &c in cells {
        if seen[c as usize] {
            continue;
        }
        let mut comp = vec![c];
        seen[c as usize] = true;
        let mut i = 0;
        let mut nb = Vec::new();
        while i < comp.len() {
            nb.clear();
            push_neighbours(comp[i], nx, ny, &mut nb);
            for &n in &nb {
                if in_set[n as usize] && !seen[n as usize] {
                    seen[n as usize] = true;
                    comp.push(n);
                }
            }
            i += 1;
        }
        if comp.len() > best.len() {
            best = comp;
        }
    }
    best.sort_unstable();
    best
}

/// Relative frequency of each class in a real inventory (roughly: street trees,
/// manhole covers and lights dominate; kiosks and bridges are rare).
struct ClassMix {
    cumulative: Vec<(f64, u16)>,
}

impl ClassMix {
    fn new(classes: &ClassTable) -> Self {
        let mut total = 0.0;
        let mut cumulative = Vec::new();
        for (i, def) in classes.all().iter().enumerate() {
            let w = match def.code.as_str() {
                "0402" => 60.0, // 行道树
                "0118" => 30.0, // 路灯
                c if def.minor_name.contains("井盖") => 12.0 + (c.as_bytes()[3] % 3) as f64 * 4.0,
                "0104" => 15.0,                            // 雨水箅子
                "0117" | "0209" | "0211" | "0305" => 10.0, // 立杆, 标志牌, 护栏, 垃圾箱
                "0212" | "0407" | "0403" | "0136" => 6.0,
                "0121" | "0122" | "0137" | "0124" | "0138" | "0217" => 0.3, // 亭
                "0205" | "0206" | "0207" | "0208" | "0601" => 0.1,
                _ => 1.0,
            };
            total += w;
            cumulative.push((total, i as u16));
        }
        for c in &mut cumulative {
            c.0 /= total;
        }
        ClassMix { cumulative }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> u16 {
        let r: f64 = rng.random();
        let i = self.cumulative.partition_point(|&(c, _)| c < r);
        self.cumulative[i.min(self.cumulative.len() - 1)].1
    }
}

/// Department in charge and owner by class, as a city's inventory would record them.
fn owners(class: &str) -> (&'static str, &'static str) {
    match class {
        "0101" | "0127" | "0131" | "0132" => ("水务局", "自来水公司"),
        "0102" | "0103" | "0104" | "0302" => ("水务局", "排水管理处"),
        "0105" | "0116" | "0133" | "0134" => ("发改委", "供电公司"),
        "0106" | "0118" | "0119" | "0120" | "0117" => ("城管局", "路灯管理所"),
        "0107" | "0108" | "0109" | "0115" => ("工信局", "通信公司"),
        "0110" => ("住建局", "热力公司"),
        "0111" | "0135" => ("住建局", "燃气公司"),
        "0112" | "0136" | "0138" => ("公安局", "公安分局"),
        "0113" => ("消防救援支队", "消防救援支队"),
        c if c.starts_with("02") => ("交通运输局", "交通设施管理处"),
        c if c.starts_with("03") => ("城管局", "环境卫生管理处"),
        c if c.starts_with("04") => ("园林局", "园林绿化管理处"),
        c if c.starts_with("05") => ("住建局", "街道办事处"),
        _ => ("城管局", "城管局"),
    }
}
