SELECT
  first_seen_date AS x,
  IF(country IN ('AR', 'AT', 'AU', 'BR', 'BY', 'CA', 'CH', 'CN', 'DE', 'ES', 'FR', 'GB', 'ID', 'IN', 'IR', 'IT', 'JP', 'KZ', 'MX', 'NL', 'PL', 'RU', 'TR', 'UA', 'US'), country, 'ROW') AS country,
  IFNULL(LOWER(windows_version) LIKE '%windows 10%', FALSE) AS win10,
  IFNULL(LOWER(windows_version) LIKE '%windows 11%', FALSE) AS win11,
  IFNULL(LOWER(windows_version) LIKE '%windows%' AND NOT LOWER(windows_version) LIKE '%windows 10%' AND NOT LOWER(windows_version) LIKE '%windows 11%', FALSE) AS winX,
  SUM(new_profiles) AS y,
FROM `moz-fx-data-shared-prod.firefox_desktop.new_profiles_aggregates`
WHERE is_desktop
  AND first_seen_date >= '2023-07-01'
  AND first_seen_date NOT BETWEEN '2023-07-18' AND '2023-07-19'
GROUP BY ALL
ORDER BY 1, 2 ASC
