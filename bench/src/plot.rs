//! `plot`: PNG bar charts of a results file written by `bench/compare.sh` (`"kind":
//! "compare"`) or `bench/backup.sh` (`"kind": "backup"`).
//!
//! Charts are drawn with plotters' bitmap backend; text goes through its `ab_glyph` feature
//! with a TrueType font found on the system (DejaVu Sans or Liberation Sans, or
//! `$HOLDFAST_BENCH_FONT`), so no fontconfig or freetype library is needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Options of `holdfast-bench plot`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlotOpts {
    /// A results file (JSON) from bench/compare.sh or bench/backup.sh.
    #[arg(long)]
    pub input: PathBuf,
    /// Directory for the PNGs, named after the input file (`<stem>.png`, `<stem>-taskset.png`).
    #[arg(long)]
    pub output: PathBuf,
}

/// Fonts tried in turn after `$HOLDFAST_BENCH_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];
const FONT: &str = "sans-serif";
const MOSQUITTO: RGBColor = RGBColor(0x3c, 0x6e, 0xb4);
const HOLDFAST: RGBColor = RGBColor(0xe0, 0x7a, 0x1f);

/// The medians the charts use; the results files hold more.
#[derive(Debug, Default, serde::Deserialize)]
struct Medians {
    delivered_per_s: Option<f64>,
    broker_cpu_us_per_msg: Option<f64>,
    latency_p99_us: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct Measured {
    #[serde(default)]
    median: Medians,
}

#[derive(Debug, serde::Deserialize)]
struct Scenario {
    name: String,
    brokers: BTreeMap<String, Measured>,
}

#[derive(Debug, serde::Deserialize)]
struct Taskset {
    scenario: String,
    /// Keyed by the CPU list given to taskset ("0", "0,1").
    cpus: BTreeMap<String, Measured>,
}

#[derive(Debug, serde::Deserialize)]
struct CompareResults {
    scenarios: Vec<Scenario>,
    taskset: Option<Taskset>,
}

#[derive(Debug, serde::Deserialize)]
struct BackupTimes {
    export: f64,
    tar_zstd: f64,
    verify: f64,
    import: f64,
    snapshot: f64,
}

#[derive(Debug, serde::Deserialize)]
struct BackupLatency {
    baseline_p99_us: f64,
    during_export_p99_us: f64,
    /// During the control load (`tar | zstd -1` of the live data dir at `SCHED_IDLE`); absent
    /// from results written before it was measured.
    #[serde(default)]
    during_control_p99_us: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct BackupResults {
    scale: String,
    times_s: BackupTimes,
    latency: BackupLatency,
}

/// Picks one median out of a scenario's.
type Metric = fn(&Medians) -> Option<f64>;

/// One series of a grouped bar chart: a name, a colour and a value per group.
struct Series {
    name: String,
    color: RGBColor,
    values: Vec<Option<f64>>,
}

pub fn run(o: &PlotOpts) -> anyhow::Result<()> {
    register_font()?;
    let text =
        std::fs::read_to_string(&o.input).with_context(|| format!("read {}", o.input.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", o.input.display()))?;
    let stem = o
        .input
        .file_stem()
        .and_then(|s| s.to_str())
        .context("the input file has no name")?;
    std::fs::create_dir_all(&o.output).with_context(|| format!("create {}", o.output.display()))?;
    let out = |suffix: &str| o.output.join(format!("{stem}{suffix}.png"));
    let written = match v.get("kind").and_then(|k| k.as_str()) {
        Some("compare") => plot_compare(&serde_json::from_value(v)?, &out)?,
        Some("backup") => plot_backup(&serde_json::from_value(v)?, &out("")).map(|p| vec![p])?,
        other => bail!(
            "{}: \"kind\" is {other:?}; expected \"compare\" or \"backup\" (a results file of bench/compare.sh or bench/backup.sh)",
            o.input.display()
        ),
    };
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

fn register_font() -> anyhow::Result<()> {
    let env = std::env::var("HOLDFAST_BENCH_FONT").ok();
    let path = env
        .iter()
        .map(String::as_str)
        .chain(FONT_PATHS.iter().copied())
        .find(|p| Path::new(p).is_file())
        .context(
            "no TrueType font found for the chart text: install fonts-dejavu-core, or set \
             HOLDFAST_BENCH_FONT to a .ttf file",
        )?;
    let bytes = std::fs::read(path).with_context(|| format!("read font {path}"))?;
    // plotters keeps fonts for the life of the process; this one is loaded once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a usable TrueType font"))?;
    Ok(())
}

/// `<stem>.png`: throughput, CPU per message and p99 per scenario, Mosquitto beside Holdfast;
/// `<stem>-taskset.png` when the file has the one-core/two-core run.
fn plot_compare(r: &CompareResults, out: &dyn Fn(&str) -> PathBuf) -> anyhow::Result<Vec<PathBuf>> {
    let groups: Vec<String> = r.scenarios.iter().map(|s| s.name.clone()).collect();
    let series = |metric: Metric| -> Vec<Series> {
        [("mosquitto", MOSQUITTO), ("holdfast", HOLDFAST)]
            .into_iter()
            .map(|(b, color)| Series {
                name: b.to_string(),
                color,
                values: r
                    .scenarios
                    .iter()
                    .map(|s| s.brokers.get(b).and_then(|m| metric(&m.median)))
                    .collect(),
            })
            .collect()
    };
    let path = out("");
    {
        let root = BitMapBackend::new(&path, (1500, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, 3));
        let charts: [(&str, &str, Metric); 3] = [
            ("Delivered msgs/s (higher is better)", "msgs/s", |m| {
                m.delivered_per_s
            }),
            ("Broker CPU µs per message (lower is better)", "µs", |m| {
                m.broker_cpu_us_per_msg
            }),
            ("Latency p99, µs (lower is better)", "µs", |m| {
                m.latency_p99_us
            }),
        ];
        for (panel, (title, unit, metric)) in panels.iter().zip(charts) {
            bars(panel, title, unit, &groups, &series(metric))?;
        }
        root.present()?;
    }
    let mut written = vec![path];
    if let Some(t) = &r.taskset {
        let path = out("-taskset");
        {
            let root = BitMapBackend::new(&path, (640, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let groups: Vec<String> = t.cpus.keys().map(|c| format!("taskset -c {c}")).collect();
            let s = Series {
                name: "holdfast".into(),
                color: HOLDFAST,
                values: t.cpus.values().map(|m| m.median.delivered_per_s).collect(),
            };
            let title = format!("Holdfast on 1 vs 2 cores: {}, msgs/s", t.scenario);
            bars(&root, &title, "msgs/s", &groups, &[s])?;
            root.present()?;
        }
        written.push(path);
    }
    Ok(written)
}

/// One PNG: backup operation times, and publish p99 without and during an export.
fn plot_backup(r: &BackupResults, path: &Path) -> anyhow::Result<PathBuf> {
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(760);
    let t = &r.times_s;
    let groups: Vec<String> = ["export", "tar | zstd -1", "verify", "import", "snapshot"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let times = Series {
        name: "seconds".into(),
        color: HOLDFAST,
        values: [t.export, t.tar_zstd, t.verify, t.import, t.snapshot]
            .into_iter()
            .map(Some)
            .collect(),
    };
    bars(
        &left,
        &format!("Backup times, {} data set, seconds", r.scale),
        "s",
        &groups,
        &[times],
    )?;
    let l = &r.latency;
    let mut values = vec![Some(l.baseline_p99_us), Some(l.during_export_p99_us)];
    let mut labels = vec!["baseline".to_string(), "during export".to_string()];
    if let Some(control) = l.during_control_p99_us {
        values.push(Some(control));
        labels.push("during idle tar|zstd".to_string());
    }
    let p99 = Series {
        name: "p99 µs".into(),
        color: MOSQUITTO,
        values,
    };
    bars(&right, "Publish p99 (QoS 1), µs", "µs", &labels, &[p99])?;
    root.present()?;
    Ok(path.to_path_buf())
}

/// A grouped bar chart in `area`: one group per entry of `groups`, one bar per series, values
/// printed on the bars; a legend when there is more than one series.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    groups: &[String],
    series: &[Series],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    // Headroom for the value labels and the legend.
    let top = if top > 0.0 { top * 1.3 } else { 1.0 };
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top)?;
    let label_of = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            groups.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&label_of)
        .y_desc(unit)
        .y_label_formatter(&|y| short(*y))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    let width = 0.8 / series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        let color = s.color;
        let rects: Vec<_> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .map(|(i, v)| {
                let x0 = i as f64 - 0.4 + k as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.95, v)], color.filled())
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        let labels: Vec<_> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .map(|(i, v)| {
                let x = i as f64 - 0.4 + (k as f64 + 0.1) * width;
                Text::new(short(v), (x, v + top * 0.02), (FONT, 12))
            })
            .collect();
        chart.draw_series(labels)?;
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
    }
    Ok(())
}

/// A number in a few characters: 135.7k, 2.4M, 6.9, 0.35.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_numbers() {
        assert_eq!(short(135_683.0), "136k");
        assert_eq!(short(2_400_000.0), "2.4M");
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(6.94), "6.9");
        assert_eq!(short(0.346), "0.35");
        assert_eq!(short(0.0), "0");
    }
}
