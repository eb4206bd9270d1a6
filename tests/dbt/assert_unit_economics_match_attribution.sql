{#-
    Unit economics carry the attribution's cost (blocking): per UTC day × provider × team ×
    application × feature × prompt template × model × currency, fct_unit_economics'
    attributed_cost equals Σ fct_cost_attributed.attributed_cost of the `telemetry` rows.
    fct_unit_economics is incremental (it rewrites only the days whose fingerprint changed):
    a day it failed to rewrite after a restated bill, a changed rule or re-tagged calls shows
    up here as a group that differs or that one side lacks. Reads the batch's days
    (TOKENLEDGER_BATCH_START / _END), like the other batch-aware tests.
-#}

{%- set batch_days = batch_days_between() %}

with

attributed as (

    select
        cast(charge_period_start as date) as charge_date,
        x_provider as provider,
        team,
        application,
        feature,
        prompt_template_id,
        x_model as model,
        billing_currency,
        sum(attributed_cost) as attributed_cost
    from {{ ref('fct_cost_attributed') }}
    where x_attribution_method = 'telemetry'
        and cast(charge_period_start as date) {{ batch_days }}
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

unit_economics as (

    select
        charge_date,
        provider,
        team,
        application,
        feature,
        prompt_template_id,
        model,
        billing_currency,
        attributed_cost
    from {{ ref('fct_unit_economics') }}
    where charge_date {{ batch_days }}

)

select
    coalesce(attributed.charge_date, unit_economics.charge_date) as charge_date,
    coalesce(attributed.provider, unit_economics.provider) as provider,
    coalesce(attributed.team, unit_economics.team) as team,
    coalesce(attributed.feature, unit_economics.feature) as feature,
    attributed.attributed_cost as attributed_cost,
    unit_economics.attributed_cost as unit_economics_cost
from attributed
full outer join unit_economics
    on attributed.charge_date = unit_economics.charge_date
    and attributed.provider = unit_economics.provider
    and attributed.team = unit_economics.team
    and coalesce(attributed.application, '') = coalesce(unit_economics.application, '')
    and attributed.feature = unit_economics.feature
    and coalesce(attributed.prompt_template_id, '') = coalesce(unit_economics.prompt_template_id, '')
    and coalesce(attributed.model, '') = coalesce(unit_economics.model, '')
    and attributed.billing_currency = unit_economics.billing_currency
where attributed.attributed_cost is null
    or unit_economics.attributed_cost is null
    or attributed.attributed_cost <> unit_economics.attributed_cost
