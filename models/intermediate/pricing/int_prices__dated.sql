{#-
    Every price that can apply to a usage line, in one dated shape, with its precedence:
    1 = negotiated price / override (seeds/price_overrides.csv, matched on the provider and
    the model as reported, normalised, or the catalogue's model id);
    2 = the genai-prices catalogue (generated seed; standard tier and the tiers it prices);
    3 = a tier the catalogue does not price on that day, derived from its standard price by
    the provider's documented discount (seeds/service_tier_discounts.csv, e.g. batch 50 %).
    Prices are per unit (token, or request for web search), exact decimals.
-#}

with

catalogue as (

    select * from {{ ref('genai_prices_catalogue') }}

),

discounts as (

    select * from {{ ref('service_tier_discounts') }}

),

overrides as (

    select * from {{ ref('price_overrides') }}

),

price_units as (

    select * from {{ ref('price_units') }}

),

catalogue_prices as (

    select
        'catalogue' as price_origin,
        2 as price_precedence,
        cast(null as varchar) as override_id,
        cast(null as varchar) as provider,
        cast(null as varchar) as model_key,
        catalogue_provider_id,
        catalogue_model_id,
        service_tier,
        token_type,
        cast(context_tier_start_tokens as bigint) as context_tier_start_tokens,
        cast(unit_price as decimal(38, 18)) as unit_price,
        currency as price_currency,
        price_source,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to
    from catalogue

),

discounted_prices as (

    select
        'tier_discount' as price_origin,
        3 as price_precedence,
        cast(null as varchar) as override_id,
        cast(null as varchar) as provider,
        cast(null as varchar) as model_key,
        catalogue_prices.catalogue_provider_id,
        catalogue_prices.catalogue_model_id,
        discounts.service_tier,
        catalogue_prices.token_type,
        catalogue_prices.context_tier_start_tokens,
        cast(
            catalogue_prices.unit_price * cast(discounts.price_multiplier as decimal(10, 6))
            as decimal(38, 18)
        ) as unit_price,
        catalogue_prices.price_currency,
        catalogue_prices.price_source || ' standard × ' || discounts.service_tier
        || ' discount ' || cast(discounts.price_multiplier as varchar) as price_source,
        catalogue_prices.effective_from,
        catalogue_prices.effective_to
    from catalogue_prices
    inner join discounts
        on catalogue_prices.catalogue_provider_id = discounts.catalogue_provider_id
    where catalogue_prices.service_tier = 'standard'

),

override_prices as (

    select
        'override' as price_origin,
        1 as price_precedence,
        overrides.override_id,
        overrides.provider,
        {{ normalize_model_ref('overrides.model') }} as model_key,
        cast(null as varchar) as catalogue_provider_id,
        cast(null as varchar) as catalogue_model_id,
        overrides.service_tier,
        overrides.token_type,
        cast(coalesce(overrides.context_tier_start_tokens, 0) as bigint)
            as context_tier_start_tokens,
        cast(
            cast(overrides.price as decimal(20, 9))
            * cast(price_units.unit_factor as decimal(18, 9))
            as decimal(38, 18)
        ) as unit_price,
        overrides.currency as price_currency,
        'override ' || overrides.override_id || ': ' || overrides.reason as price_source,
        cast(overrides.effective_from as date) as effective_from,
        cast(overrides.effective_to as date) as effective_to
    from overrides
    inner join price_units
        on overrides.price_unit = price_units.price_unit

),

unioned as (

    select * from override_prices
    union all
    select * from catalogue_prices
    union all
    select * from discounted_prices

),

final as (

    select
        {{ surrogate_key([
            'price_origin', 'override_id', 'catalogue_provider_id', 'catalogue_model_id',
            'service_tier', 'token_type', 'context_tier_start_tokens', 'effective_from',
        ]) }} as price_id,
        *
    from unioned

)

select * from final
