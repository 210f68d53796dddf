"""Schedule ticks: the manifest's cron schedules turned into ``schedule.tick`` deliveries."""
