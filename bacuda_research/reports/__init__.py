"""Tables from run reports: results are generated from report.json files, never typed by hand."""
