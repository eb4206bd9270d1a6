{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='charge_date',
    on_schema_change='append_new_columns',
) }}
{#-
    Billed AI cost per conversation: one row per conversation × usage group (UTC day,
    provider, project, API key, model, service tier, prompt size, team, application, feature,
    prompt template and version of its calls) × the team, cost centre, allocation rule and
    attribution method the cost goes to. The telemetry-attributed cost of fct_cost_attributed
    (`telemetry` and `team_conflict` rows) split over the conversations of its calls: per
    bill line a conversation pays its calls' tokens × the line's rate per token
    (int_telemetry__conversation_rates), so Σ attributed_cost per day × provider × team ×
    feature × prompt template equals those rows of fct_cost_attributed
    (assert_conversation_costs_match_attribution; each row is rounded to 1e-9). Sum by
    `conversation_id` for the cost of a conversation; calls reported without a conversation
    id are one row per usage group with a null `conversation_id`.

    Incremental: a build rewrites only the days whose rates or conversations changed since
    their rows were written (`x_day_fingerprint`, conversation_days_to_rebuild): a new day of
    calls, a restated bill, a changed allocation rule.
-#}

{%- set token_columns = [
    ('input', 'input_tokens'),
    ('cached_input', 'cached_input_tokens'),
    ('cache_write', 'cache_write_tokens'),
    ('cache_write_5m', 'cache_write_5m_tokens'),
    ('cache_write_1h', 'cache_write_1h_tokens'),
    ('output', 'output_tokens'),
    ('web_search', 'web_search_requests'),
] %}
{%- set days = conversation_days_to_rebuild(this) if is_incremental() else none %}

with

conversations as (

    select * from {{ ref('int_telemetry__conversations_daily') }}
    {%- if days is not none %}
    where event_date in ({{ days }})
    {%- endif %}

),

rates as (

    select * from {{ ref('int_telemetry__conversation_rates') }}
    {%- if days is not none %}
    where event_date in ({{ days }})
    {%- endif %}

),

usage_groups as (

    select distinct
        usage_group_key,
        provider,
        sub_account_id,
        api_key_id,
        model,
        service_tier,
        application,
        feature,
        prompt_template_id,
        prompt_template_version
    from {{ ref('int_telemetry__usage_daily') }}
    where team is not null
    {%- if days is not none %}
        and event_date in ({{ days }})
    {%- endif %}

),

day_fingerprints as (

    {{ conversation_day_fingerprints(
        ref('int_telemetry__conversation_rates'), ref('int_telemetry__conversations_daily')
    ) | indent(4) }}

),

providers as (

    select * from {{ ref('providers') }}

),

final as (

    select
        -- ids
        conversations.conversation_id,
        conversations.usage_group_key as x_usage_group_key,
        usage_groups.sub_account_id,
        usage_groups.api_key_id as x_api_key_id,

        -- dimensions
        rates.team,
        rates.cost_centre,
        usage_groups.application,
        coalesce(usage_groups.feature, 'unattributed') as feature,
        coalesce(usage_groups.prompt_template_id, 'unattributed') as prompt_template_id,
        usage_groups.prompt_template_version,
        providers.provider_name,
        usage_groups.provider as x_provider,
        usage_groups.model as x_model,
        usage_groups.service_tier as x_service_tier,

        -- quantities
        cast(conversations.call_count as bigint) as request_count,

        -- money
        {{ nanos_to_money(
            'round(' ~ telemetry_conversation_nanos('conversations', 'rates', token_columns) ~ ')'
        ) }} as attributed_cost,
        rates.billing_currency,

        -- audit
        rates.allocation_rule_id as x_allocation_rule_id,
        rates.allocation_method as x_allocation_method,
        rates.attribution_method as x_attribution_method,
        day_fingerprints.day_fingerprint as x_day_fingerprint,

        -- dates
        conversations.event_date as charge_date

    from conversations
    inner join rates
        on conversations.usage_group_key = rates.usage_group_key
        and conversations.event_date = rates.event_date
    inner join usage_groups
        on conversations.usage_group_key = usage_groups.usage_group_key
    inner join day_fingerprints
        on conversations.event_date = day_fingerprints.event_date
    left join providers
        on usage_groups.provider = providers.provider

)

select * from final
