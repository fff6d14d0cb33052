import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  readonly label: string;
  readonly values: (number | null)[];
}

/** A time-series line chart: `times` in seconds since the epoch, one line per series. */
export function TimeChart({ times, series, height = 220, bars = false, steps = false }: { times: number[]; series: Series[]; height?: number; bars?: boolean; steps?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element || times.length === 0) return;
    const halfStep = times.length > 1 ? (times[1]! - times[0]!) / 2 : 1800;
    const colors = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];
    const plot = new uPlot(
      {
        width: Math.max(300, element.clientWidth),
        height,
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: colors[i % colors.length],
            fill: bars ? `${colors[i % colors.length]}55` : undefined,
            width: 2,
            // A rate measured over an interval holds for that interval: steps, not slopes.
            paths: bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : steps ? uPlot.paths.stepped!({ align: -1 }) : undefined,
            points: { show: !bars && times.length < 60 },
          })),
        ],
        // Counts and rates: the axis starts at zero, so bar heights compare.
        scales: {
          y: { range: (_plot: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.1 : 1] },
          // Bars are centred on their time: half a bar of room at each end keeps the first and last whole.
          ...(bars ? { x: { time: true, range: (_plot: uPlot, min: number, max: number): uPlot.Range.MinMax => [min - halfStep, max + halfStep] } } : {}),
        },
        legend: { show: series.length > 1, live: false },
        axes: [{}, { size: 70 }],
      },
      [times, ...series.map((s) => s.values)],
      element,
    );
    const resize = () => plot.setSize({ width: Math.max(300, element.clientWidth), height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [times, series, height, bars]);
  if (times.length === 0) return <p class="muted">No points yet.</p>;
  return <div class="chart" ref={box} />;
}
