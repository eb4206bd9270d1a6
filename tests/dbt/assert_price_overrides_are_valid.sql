{{ config(severity='error') }}
{#-
    Every row of seeds/price_overrides.csv can be applied: a known provider, a model the
    catalogue or usage knows, a conformed token type and tier, a known unit and currency, a
    non-negative price, from < to, and no overlap with another row of the same key. Each
    offending row is returned with its `override_id` and the reason.
-#}

with

overrides as (

    select * from {{ ref('price_overrides') }}

),

providers as (

    select * from {{ ref('providers') }}

),

currencies as (

    select * from {{ ref('currency_codes') }}

),

price_units as (

    select * from {{ ref('price_units') }}

),

matches as (

    select * from {{ ref('genai_prices_model_matches') }}

),

token_types as (

    select distinct token_type from {{ ref('token_type_map') }}

),

usage_models as (

    select * from {{ ref('int_models__resolved') }}

),

normalised as (

    select
        overrides.*,
        {{ normalize_model_ref('overrides.model') }} as model_ref
    from overrides

),

known_models as (

    select distinct
        normalised.override_id
    from normalised
    inner join matches
        on normalised.provider = matches.provider
    where {{ match_atom('normalised.model_ref', 'matches.match_op', 'matches.match_value') }}
        and matches.atom_count = 1

    union

    select normalised.override_id
    from normalised
    inner join usage_models
        on normalised.provider = usage_models.provider
        and normalised.model_ref in (usage_models.model_ref, usage_models.catalogue_model_id)

),

checks as (

    select
        normalised.override_id,
        normalised.provider,
        normalised.model,
        case
            when normalised.override_id is null then 'override_id is empty'
            when providers.provider is null then 'unknown provider'
            when known_models.override_id is null
                then 'unknown model: neither the catalogue nor any usage knows it'
            when token_types.token_type is null
                then 'token_type is not in the conformed vocabulary'
            when normalised.service_tier not in ('standard', 'batch', 'priority', 'flex')
                then 'service_tier is not standard, batch, priority or flex'
            when price_units.price_unit is null then 'unknown price_unit'
            when currencies.currency_code is null then 'unknown currency'
            when normalised.price is null or normalised.price < 0
                then 'price is missing or negative'
            when normalised.effective_to <= normalised.effective_from
                then 'effective_to is not after effective_from'
        end as reason
    from normalised
    left join providers
        on normalised.provider = providers.provider
    left join currencies
        on normalised.currency = currencies.currency_code
    left join price_units
        on normalised.price_unit = price_units.price_unit
    left join token_types
        on normalised.token_type = token_types.token_type
    left join known_models
        on normalised.override_id = known_models.override_id

),

overlapping_rows as (

    select
        a.override_id,
        a.provider,
        a.model,
        'overlaps override ' || b.override_id || ' for the same key and days' as reason
    from normalised as a
    inner join normalised as b
        on a.provider = b.provider
        and a.model_ref = b.model_ref
        and a.token_type = b.token_type
        and a.service_tier = b.service_tier
        and coalesce(a.context_tier_start_tokens, 0) = coalesce(b.context_tier_start_tokens, 0)
        and a.override_id < b.override_id
    where (a.effective_to is null or b.effective_from is null or b.effective_from < a.effective_to)
        and (b.effective_to is null or a.effective_from is null or a.effective_from < b.effective_to)

)

select * from checks where reason is not null
union all
select * from overlapping_rows
