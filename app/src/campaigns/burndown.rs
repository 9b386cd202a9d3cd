//! The burn-down as an SVG drawn on the server: consumers still to migrate, day by day, beside
//! the straight line (dashed) from everyone at the announcement to no one at the deadline.

use leptos::prelude::*;
use rekey_core::notices::views::BurnDown;

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

#[component]
pub fn BurnDownSvg(burn_down: BurnDown) -> impl IntoView {
    let BurnDown {
        total,
        start,
        deadline,
        end,
        points,
    } = burn_down;
    let (t0, t1) = (
        start.as_micros() as f64,
        end.as_micros().max(start.as_micros() + 1) as f64,
    );
    let x = move |t: i64| LEFT + (t as f64 - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT);
    let top = total.max(1) as f64;
    let y = move |n: i64| TOP + (1.0 - n as f64 / top) * (HEIGHT - TOP - BOTTOM);
    let actual = points
        .iter()
        .map(|(t, n)| format!("{:.1},{:.1}", x(t.as_micros()), y(*n)))
        .collect::<Vec<_>>()
        .join(" ");
    let left_now = points.last().map(|(_, n)| *n);
    let summary = match left_now {
        Some(n) => format!("{n} of {total} consumers still to migrate"),
        None => format!("{total} consumers; the campaign has not started"),
    };
    let (deadline_x, base_y) = (x(deadline.as_micros()), y(0));
    view! {
        <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") class="w-full" role="img" aria-label="Burn-down">
            <title>{format!("Burn-down: {summary}")}</title>
            <line x1=LEFT y1=base_y x2=WIDTH - RIGHT y2=base_y stroke="#cbd5e1" stroke-width="1" />
            <line x1=LEFT y1=TOP x2=LEFT y2=base_y stroke="#cbd5e1" stroke-width="1" />
            <text x=LEFT - 8.0 y=y(total) + 4.0 text-anchor="end" font-size="11" fill="#475569">{total}</text>
            <text x=LEFT - 8.0 y=base_y + 4.0 text-anchor="end" font-size="11" fill="#475569">"0"</text>
            <line x1=x(start.as_micros()) y1=y(total) x2=deadline_x y2=base_y stroke="#94a3b8" stroke-width="2" stroke-dasharray="6 4" />
            <line x1=deadline_x y1=TOP x2=deadline_x y2=base_y stroke="#e11d48" stroke-width="1" stroke-dasharray="2 3" />
            <text x=deadline_x y=HEIGHT - 20.0 text-anchor="middle" font-size="11" fill="#be123c">{format!("deadline {}", deadline.utc_minute())}</text>
            <text x=LEFT y=HEIGHT - 6.0 font-size="11" fill="#475569">{format!("announced {}", start.utc_minute())}</text>
            <polyline points=actual fill="none" stroke="#4f46e5" stroke-width="3" stroke-linejoin="round" />
            {points.last().map(|(t, n)| view! {
                <circle cx=x(t.as_micros()) cy=y(*n) r="4" fill="#4f46e5" />
            })}
        </svg>
        <p class="mt-2 text-sm text-slate-600">{summary}</p>
    }
}
