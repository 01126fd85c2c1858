// The report page's charts: the timeline (signals per bucket by signal, deaths
// marked, who sent what on hover) and the top senders over time, drawn with
// uPlot from the JSON the page carries. Everything else on the page is HTML.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  if (data === null) return;

  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79'];
  var DEATH = '#d62728';
  var GAP = 'rgba(217, 119, 6, 0.35)';
  var utc = function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'); };

  function xs(origin, step, count) {
    var out = new Array(count);
    for (var i = 0; i < count; i++) out[i] = origin + i * step;
    return out;
  }

  function width(element) {
    return Math.max(320, element.clientWidth || 800);
  }

  function text(tag, content, className) {
    var element = document.createElement(tag);
    element.textContent = content;
    if (className) element.className = className;
    return element;
  }

  function isoUtc(seconds) {
    return new Date(Math.round(seconds * 1000)).toISOString().replace('T', ' ');
  }

  // Every death: a faint line over the series and a red triangle above the plot.
  function deathMarks(deaths) {
    return {
      hooks: {
        draw: function (u) {
          var ctx = u.ctx;
          var size = 5 * uPlot.pxRatio;
          ctx.save();
          ctx.fillStyle = DEATH;
          ctx.strokeStyle = DEATH + '66';
          ctx.lineWidth = uPlot.pxRatio;
          for (var i = 0; i < deaths.length; i++) {
            var x = Math.round(u.valToPos(deaths[i].t, 'x', true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.beginPath();
            ctx.moveTo(x - size, u.bbox.top - 2 * size);
            ctx.lineTo(x + size, u.bbox.top - 2 * size);
            ctx.lineTo(x, u.bbox.top);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
        },
      },
    };
  }

  // Windows with missing signals (drops, a recorder down, retention), shaded over the series.
  function gapBands(gaps) {
    return {
      hooks: {
        draw: function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = GAP;
          gaps.forEach(function (gap) {
            var from = Math.max(u.bbox.left, u.valToPos(gap[0], 'x', true));
            var to = Math.min(u.bbox.left + u.bbox.width, u.valToPos(gap[1], 'x', true));
            if (to < from) return;
            ctx.fillRect(from, u.bbox.top, Math.max(to - from, 2 * uPlot.pxRatio), u.bbox.height);
          });
          ctx.restore();
        },
      },
    };
  }

  // On hover: the bucket's busiest senders and the deaths in it, under the chart.
  function hoverTooltip(timeline, tooltip) {
    var byBucket = {};
    timeline.hover.forEach(function (row) {
      (byBucket[row[0]] = byBucket[row[0]] || []).push(row);
    });
    return {
      hooks: {
        setCursor: function (u) {
          var i = u.cursor.idx;
          if (i === null || i === undefined) {
            tooltip.hidden = true;
            return;
          }
          var from = timeline.origin + i * timeline.step;
          tooltip.replaceChildren(text('strong', isoUtc(from) + ', ' + timeline.stepName));
          var senders = byBucket[i] || [];
          if (senders.length === 0) tooltip.appendChild(text('div', 'no signals'));
          senders.forEach(function (row) {
            tooltip.appendChild(text('div', row[1] + ' sent ' + row[2] + ' \u00d7 ' + row[3]));
          });
          timeline.deaths.forEach(function (death) {
            if (death.t < from || death.t >= from + timeline.step) return;
            var line = 'pid ' + death.pid + ' (' + (death.comm || '?') + ') ' + death.how;
            tooltip.appendChild(text('div', death.verdict || line, 'death'));
          });
          tooltip.hidden = false;
        },
      },
    };
  }

  // Stacked: each series is drawn as the running sum up to it, largest sum
  // first, so the later (smaller) ones paint over it; the legend shows each
  // series' own count.
  function chart(element, spec, options) {
    var count = spec.series[0] ? spec.series[0].counts.length : 0;
    var sums = [];
    var running = new Array(count).fill(0);
    spec.series.forEach(function (s) {
      running = running.map(function (value, i) { return value + s.counts[i]; });
      sums.push(running);
    });
    var order = spec.series.map(function (s, i) { return i; }).reverse();
    var series = [{}].concat(order.map(function (i) {
      var raw = spec.series[i].counts;
      return {
        label: spec.series[i].name,
        stroke: PALETTE[i % PALETTE.length],
        fill: PALETTE[i % PALETTE.length],
        width: 1,
        paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: false },
        value: function (u, value, seriesIndex, index) { return index === null || index === undefined ? '--' : raw[index] || 0; },
      };
    }));
    // One more x at the end of the last bucket, so that it has a width too (a one-bucket window included).
    var values = [xs(spec.origin, spec.step, count + 1)].concat(order.map(function (i) { return sums[i].concat([0]); }));
    var plot = new uPlot({
      width: width(element),
      height: options.height,
      tzDate: utc,
      padding: [16, 8, 0, 0],
      cursor: { drag: { x: true, y: false } },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{ label: 'UTC', labelSize: 20 }, { label: 'signals', size: 60 }],
      series: series,
      plugins: options.plugins || [],
    }, values, element);
    window.addEventListener('resize', function () { plot.setSize({ width: width(element), height: options.height }); });
    return plot;
  }

  var timelineElement = document.getElementById('timeline-chart');
  if (timelineElement) {
    var timeline = data.timeline;
    chart(timelineElement, { origin: timeline.origin, step: timeline.step, series: timeline.series }, {
      height: 320,
      plugins: [gapBands(timeline.gaps), deathMarks(timeline.deaths), hoverTooltip(timeline, document.getElementById('timeline-tooltip'))],
    });
  }
  var sendersElement = document.getElementById('senders-chart');
  if (sendersElement && data.senders.series.length > 0) chart(sendersElement, data.senders, { height: 240 });
})();
