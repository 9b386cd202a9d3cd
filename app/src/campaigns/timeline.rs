//! The rotation timeline as an SVG drawn on the server, so it shows before hydration.

use leptos::prelude::*;

const WIDTH: f64 = 880.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 40.0;
const AXIS_Y: f64 = 70.0;

/// Milestones as (label, instant in µs, UTC text); `now` in µs is marked as "today".
#[component]
pub fn TimelineSvg(milestones: Vec<(String, i64, String)>, now: i64) -> impl IntoView {
    let first = milestones.iter().map(|m| m.1).min().unwrap_or(now);
    let last = milestones.iter().map(|m| m.1).max().unwrap_or(now);
    let span = (last - first).max(1) as f64;
    // A little room on both sides, wider when today lies outside the campaign.
    let start = first.min(now) as f64 - span * 0.05;
    let end = last.max(now) as f64 + span * 0.05;
    let x = move |t: i64| LEFT + (t as f64 - start) / (end - start) * (WIDTH - LEFT - RIGHT);
    let colours = ["#6366f1", "#0ea5e9", "#e11d48", "#64748b"];
    let now_x = x(now);
    view! {
        <svg viewBox=format!("0 0 {WIDTH} 150") class="w-full" role="img" aria-label="Rotation timeline">
            <title>"Rotation timeline"</title>
            <line x1=LEFT y1=AXIS_Y x2=WIDTH - RIGHT y2=AXIS_Y stroke="#cbd5e1" stroke-width="4" stroke-linecap="round" />
            {milestones.iter().enumerate().map(|(i, (label, at, utc))| {
                let cx = x(*at);
                // Alternate labels above and below the axis so close milestones stay readable.
                let (label_y, date_y) = if i % 2 == 0 { (AXIS_Y - 34.0, AXIS_Y - 18.0) } else { (AXIS_Y + 30.0, AXIS_Y + 46.0) };
                view! {
                    <g>
                        <circle cx=cx cy=AXIS_Y r="9" fill=colours[i % colours.len()] />
                        <text x=cx y=label_y text-anchor="middle" font-size="13" font-weight="600" fill="#0f172a">{label.clone()}</text>
                        <text x=cx y=date_y text-anchor="middle" font-size="11" fill="#475569">{utc.clone()}</text>
                    </g>
                }
            }).collect_view()}
            <g aria-label="Today">
                <line x1=now_x y1="8" x2=now_x y2="132" stroke="#f59e0b" stroke-width="2" stroke-dasharray="4 3" />
                <text x=now_x y="146" text-anchor="middle" font-size="11" font-weight="600" fill="#b45309">"today"</text>
            </g>
        </svg>
    }
}
