{#-
    Conversation costs add up to the attribution (blocking): per UTC day × provider × team ×
    application × feature × prompt template × attribution method × currency, Σ
    fct_conversation_costs.attributed_cost equals Σ fct_cost_attributed.attributed_cost of
    the telemetry-attributed rows (`telemetry`, `team_conflict`) within 1e-9 per row of
    either side (each side rounds its rows to 1e-9). Returns the groups that differ or that
    one side lacks. Reads the batch's days (TOKENLEDGER_BATCH_START / _END), like the other
    batch-aware tests: a daily run does not re-check a year of conversations.
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
        x_attribution_method as attribution_method,
        billing_currency,
        count(*) as row_count,
        sum(attributed_cost) as attributed_cost
    from {{ ref('fct_cost_attributed') }}
    where x_attribution_method in ('telemetry', 'team_conflict')
        and cast(charge_period_start as date) {{ batch_days }}
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

conversations as (

    select
        charge_date,
        x_provider as provider,
        team,
        application,
        feature,
        prompt_template_id,
        x_attribution_method as attribution_method,
        billing_currency,
        count(*) as row_count,
        sum(attributed_cost) as attributed_cost
    from {{ ref('fct_conversation_costs') }}
    where charge_date {{ batch_days }}
    group by 1, 2, 3, 4, 5, 6, 7, 8

)

select
    coalesce(attributed.charge_date, conversations.charge_date) as charge_date,
    coalesce(attributed.provider, conversations.provider) as provider,
    coalesce(attributed.team, conversations.team) as team,
    coalesce(attributed.feature, conversations.feature) as feature,
    attributed.attributed_cost as attributed_cost,
    conversations.attributed_cost as conversation_cost
from attributed
full outer join conversations
    on attributed.charge_date = conversations.charge_date
    and attributed.provider = conversations.provider
    and attributed.team = conversations.team
    and coalesce(attributed.application, '') = coalesce(conversations.application, '')
    and attributed.feature = conversations.feature
    and attributed.prompt_template_id = conversations.prompt_template_id
    and attributed.attribution_method = conversations.attribution_method
    and attributed.billing_currency = conversations.billing_currency
where attributed.attributed_cost is null
    or conversations.attributed_cost is null
    or abs(attributed.attributed_cost - conversations.attributed_cost)
        > 0.000000001 * (attributed.row_count + conversations.row_count)
