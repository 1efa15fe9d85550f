/* A campaign's page: the progress bar, counts and ETA follow `campaignProgress` frames. */
"use strict";

(function () {
  const Live = window.Live;
  const campaignId = Live.data.campaignId;
  const byId = (id) => document.getElementById(id);
  const LABELS = {
    draft: "Draft",
    scheduled: "Scheduled",
    running: "Running",
    completed: "Completed",
    cancelled: "Cancelled",
  };
  let problems = null;

  function duration(seconds) {
    const whole = Math.ceil(seconds);
    if (whole < 60) return `${whole} s`;
    const minutes = Math.floor(whole / 60);
    if (minutes < 60) return `${minutes} min ${whole % 60} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function showEta(seconds) {
    byId("eta-wrap").hidden = seconds == null;
    if (seconds != null) byId("eta").textContent = duration(seconds);
  }

  function apply(frame) {
    if (frame.campaignId !== campaignId) return;
    const status = byId("campaign-status");
    status.dataset.status = frame.status;
    status.className = `pill status-${frame.status}`;
    status.textContent = LABELS[frame.status] || frame.status;
    const bar = byId("progress-bar");
    bar.max = Math.max(frame.segmentsTotal, 1);
    bar.value = frame.segmentsSent;
    byId("percent").textContent = `${frame.segmentsTotal ? Math.round((100 * frame.segmentsSent) / frame.segmentsTotal) : 0}%`;
    byId("segments-sent").textContent = frame.segmentsSent;
    byId("segments-total").textContent = frame.segmentsTotal;
    showEta(frame.etaSeconds);
    Object.entries(frame.counts).forEach(([name, count]) => {
      const node = byId(`count-${name}`);
      if (node) node.textContent = count;
    });
    byId("draft-counts").hidden = frame.status !== "draft";
    byId("live-counts").hidden = frame.status === "draft";
    // "Launched: sending has started" (or "Scheduled") is news only until it finishes.
    if (!["draft", "scheduled", "running"].includes(frame.status)) {
      document.querySelectorAll(".flash li.launch").forEach((item) => item.remove());
    }
    byId("launch-form").hidden = frame.status !== "draft";
    byId("cancel-form").hidden = !["draft", "scheduled", "running"].includes(frame.status);
    // The preview is what launching would do: once sending, the counts say what it does.
    const preview = byId("preview");
    if (preview && frame.status !== "draft" && frame.status !== "scheduled") preview.hidden = true;
    const failing = frame.counts.failed + frame.counts.dead;
    if (problems === null) problems = failing;
    byId("problems-stale").hidden = failing <= problems;
  }

  Live.on("campaignProgress", apply);
  Live.onOpen(() => {
    Live.request({ action: "watchCampaign", campaignId }).then(apply, (error) => {
      if (error && error.message) Live.toast(error.message, "error");
    });
  });
  const eta = byId("eta").dataset.seconds;
  showEta(eta === "" ? null : Number(eta));
  // Moments in full, in the reader's own zone (the server renders UTC). Not <time>: the
  // chat's relative dates would shorten them to a day.
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll(".moment[data-datetime]").forEach((node) => {
    const moment = new Date(node.dataset.datetime);
    if (!Number.isNaN(moment.getTime())) node.textContent = local.format(moment);
  });
  document.querySelectorAll(".eta[data-seconds]").forEach((node) => {
    node.textContent = duration(Number(node.dataset.seconds));
  });
})();
