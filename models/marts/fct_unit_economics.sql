{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='charge_date',
    on_schema_change='append_new_columns',
) }}
{#-
    Unit economics of AI features: one row per UTC day × provider × team × application ×
    feature × prompt template × model — attributed cost and what it bought: reported calls,
    conversations, active end users, and cost per request, per conversation, per active end
    user and per 1,000 calls. Cost comes from fct_cost_attributed (telemetry-attributed rows
    only: `unattributed` cost has no calls to divide by); counts from the reported calls.
    Per conversation: the cost of the group's calls that belong to a conversation
    (fct_conversation_costs) over the number of those conversations — calls reported without a
    conversation id are in the cost per request, not in the cost per conversation.

    Incremental like fct_conversation_costs, on the same day fingerprint (`x_day_fingerprint`:
    the day's attribution rates and the build that last wrote its calls): a build rewrites
    only the days whose bill lines, rules, prices or calls changed since their rows were
    written; a daily run does not re-read a year of history.
-#}

{%- set days = conversation_days_to_rebuild(this) if is_incremental() else none %}

with

attributed as (

    select * from {{ ref('fct_cost_attributed') }}
    where x_attribution_method = 'telemetry'
    {%- if days is not none %}
        and cast(charge_period_start as date) in ({{ days }})
    {%- endif %}

),

conversation_costs as (

    select
        charge_date,
        x_provider as provider,
        team,
        application,
        feature,
        prompt_template_id,
        x_model as model,
        billing_currency,
        count(distinct conversation_id) as conversation_count,
        sum(attributed_cost) as conversation_cost
    from {{ ref('fct_conversation_costs') }}
    where x_attribution_method = 'telemetry'
        and conversation_id is not null
    {%- if days is not none %}
        and charge_date in ({{ days }})
    {%- endif %}
    group by
        charge_date,
        x_provider,
        team,
        application,
        feature,
        prompt_template_id,
        x_model,
        billing_currency

),

call_counts as (

    select
        event_date as charge_date,
        provider,
        team,
        application,
        feature,
        prompt_template_id,
        model,
        request_count,
        error_count,
        active_end_user_count,
        avg_latency_ms
    from {{ ref('int_telemetry__calls_daily') }}
    {%- if days is not none %}
    where event_date in ({{ days }})
    {%- endif %}

),

day_fingerprints as (

    {{ conversation_day_fingerprints(
        ref('int_telemetry__conversation_rates'), ref('int_telemetry__conversations_daily')
    ) | indent(4) }}

),

cost_by_feature as (

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
    from attributed
    group by
        cast(charge_period_start as date),
        x_provider,
        team,
        application,
        feature,
        prompt_template_id,
        x_model,
        billing_currency

),

final as (

    select
        -- dimensions
        cost_by_feature.charge_date,
        cost_by_feature.provider,
        cost_by_feature.team,
        cost_by_feature.application,
        cost_by_feature.feature,
        cost_by_feature.prompt_template_id,
        cost_by_feature.model,

        -- quantities
        cast(coalesce(call_counts.request_count, 0) as bigint) as request_count,
        cast(coalesce(call_counts.error_count, 0) as bigint) as error_count,
        cast(coalesce(conversation_costs.conversation_count, 0) as bigint)
            as conversation_count,
        cast(coalesce(call_counts.active_end_user_count, 0) as bigint) as active_end_user_count,
        cast(call_counts.avg_latency_ms as decimal(18, 3)) as avg_latency_ms,

        -- money
        cost_by_feature.attributed_cost,
        cost_by_feature.billing_currency,
        cast(
            cost_by_feature.attributed_cost / nullif(call_counts.request_count, 0)
            as {{ money_type() }}
        ) as cost_per_request,
        cast(
            conversation_costs.conversation_cost
            / nullif(conversation_costs.conversation_count, 0)
            as {{ money_type() }}
        ) as cost_per_conversation,
        cast(
            cost_by_feature.attributed_cost / nullif(call_counts.active_end_user_count, 0)
            as {{ money_type() }}
        ) as cost_per_active_end_user,
        cast(
            cost_by_feature.attributed_cost * 1000 / nullif(call_counts.request_count, 0)
            as {{ money_type() }}
        ) as cost_per_1000_calls,

        -- audit
        day_fingerprints.day_fingerprint as x_day_fingerprint

    from cost_by_feature
    left join call_counts
        on cost_by_feature.charge_date = call_counts.charge_date
        and cost_by_feature.provider = call_counts.provider
        and cost_by_feature.team = call_counts.team
        and cost_by_feature.application = call_counts.application
        and cost_by_feature.feature = call_counts.feature
        and cost_by_feature.prompt_template_id = call_counts.prompt_template_id
        and cost_by_feature.model = call_counts.model
    left join conversation_costs
        on cost_by_feature.charge_date = conversation_costs.charge_date
        and cost_by_feature.provider = conversation_costs.provider
        and cost_by_feature.team = conversation_costs.team
        and cost_by_feature.application = conversation_costs.application
        and cost_by_feature.feature = conversation_costs.feature
        and cost_by_feature.prompt_template_id = conversation_costs.prompt_template_id
        and cost_by_feature.model = conversation_costs.model
        and cost_by_feature.billing_currency = conversation_costs.billing_currency
    left join day_fingerprints
        on cost_by_feature.charge_date = day_fingerprints.event_date

)

select * from final
