//! Pictures: every kind draws to PNG and SVG, and bad inputs are errors.

use neurosplit::plot::{
    draw_heatmaps, draw_line_chart, Corner, Heatmap, LineChart, Series, XScale,
};
use neurosplit::Error;

fn chart() -> LineChart {
    LineChart {
        title: "relative improvement".into(),
        x_label: "neurons".into(),
        y_label: "acc FPE / acc dense".into(),
        series: vec![Series {
            label: "clause split".into(),
            x: vec![4.0, 8.0, 16.0],
            mean: vec![1.2, 1.1, 1.0],
            sem: Some(vec![0.05, 0.02, 0.01]),
            significant: vec![true, false, false],
            dashed: false,
            color: None,
        }],
        reference: Some(1.0),
        markers: true,
        legend: Corner::UpperRight,
        x_scale: XScale::Log2,
        dodge: true,
        caption: vec!["Error bars: ± one SEM over 5 trials.".into()],
        annotations: Vec::new(),
        categories: Vec::new(),
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn charts_and_heatmaps_draw_in_both_formats() {
    let dir = std::env::temp_dir().join(format!("neurosplit-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    draw_line_chart(&dir.join("c.png"), &chart(), (640, 480)).unwrap();
    assert_eq!(
        png_size(&std::fs::read(dir.join("c.png")).unwrap()),
        (640, 480)
    );
    draw_line_chart(&dir.join("c.svg"), &chart(), (640, 480)).unwrap();
    let svg = std::fs::read_to_string(dir.join("c.svg")).unwrap();
    assert!(svg.contains("clause split") && svg.contains("neurons"));

    let mut h = Heatmap::new("W", 2, 3, vec![1.0, -1.0, 0.0, 0.5, 0.0, 2.0]);
    h.masked = Some(vec![false, false, true, false, true, false]);
    h.col_breaks = vec![2];
    h.row_breaks = vec![1];
    h.annotate = Some(2);
    let g = Heatmap::new("G", 3, 3, vec![0.0; 9]);
    draw_heatmaps(&dir.join("h.png"), "pair", &[h.clone(), g], (400, 300)).unwrap();
    assert_eq!(
        png_size(&std::fs::read(dir.join("h.png")).unwrap()),
        (800, 340)
    );
    draw_heatmaps(&dir.join("h.svg"), "", &[h.clone()], (400, 300)).unwrap();

    for (path, bad) in [
        ("h.jpg", h.clone()),
        ("h.png", Heatmap::new("bad", 2, 2, vec![1.0; 3])),
    ] {
        let e = draw_heatmaps(&dir.join(path), "", &[bad], (400, 300)).unwrap_err();
        assert!(matches!(e, Error::Plot { .. }), "{e:?}");
    }
    let mut c = chart();
    c.series[0].sem = Some(vec![0.1]);
    assert!(draw_line_chart(&dir.join("bad.png"), &c, (640, 480)).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
