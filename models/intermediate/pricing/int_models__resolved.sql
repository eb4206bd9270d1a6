{#-
    One row per provider × model name as usage reports it: the deployment it maps to
    (seeds/model_deployments.csv, e.g. an Azure deployment name), the normalised reference
    (`normalize_model_ref`: ARNs, inference profiles, Vertex publisher paths) and the
    catalogue model it resolves to with genai-prices' own matching rules: the first model in
    the package's order whose every atom of one alternative matches, then fallback providers.
-#}

with

usage_lines as (

    select * from {{ ref('int_usage__unioned') }}

),

deployments as (

    select * from {{ ref('model_deployments') }}

),

matches as (

    select * from {{ ref('genai_prices_model_matches') }}

),

reported as (

    select distinct
        provider,
        model
    from usage_lines
    where model is not null

),

normalised as (

    select
        reported.provider,
        reported.model,
        deployments.model as deployment_model,
        {{ normalize_model_ref('coalesce(deployments.model, reported.model)') }} as model_ref
    from reported
    left join deployments
        on reported.provider = deployments.provider
        and reported.model = deployments.deployment_name

),

atoms_matched as (

    select
        normalised.provider,
        normalised.model,
        matches.match_order,
        matches.alternative_id,
        matches.catalogue_provider_id,
        matches.catalogue_model_id,
        max(matches.atom_count) as atom_count,
        count(*) as matched_atom_count
    from normalised
    inner join matches
        on normalised.provider = matches.provider
    where {{ match_atom('normalised.model_ref', 'matches.match_op', 'matches.match_value') }}
    group by
        normalised.provider,
        normalised.model,
        matches.match_order,
        matches.alternative_id,
        matches.catalogue_provider_id,
        matches.catalogue_model_id

),

first_match as (

    select
        provider,
        model,
        catalogue_provider_id,
        catalogue_model_id,
        row_number() over (
            partition by provider, model
            order by match_order, alternative_id
        ) as match_rank
    from atoms_matched
    where matched_atom_count = atom_count

),

final as (

    select
        normalised.provider,
        normalised.model,
        normalised.deployment_model,
        normalised.model_ref,
        first_match.catalogue_provider_id,
        first_match.catalogue_model_id,
        first_match.catalogue_model_id is not null as is_in_catalogue
    from normalised
    left join first_match
        on normalised.provider = first_match.provider
        and normalised.model = first_match.model
        and first_match.match_rank = 1

)

select * from final
